output "table_name" {
  description = "Name of the table (IMGCAP_DYNAMODB_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "jobs_index_name" {
  description = "Name of the sparse GSI over job_state (IMGCAP_DYNAMODB_JOBS_INDEX)."
  value       = "jobs-by-state"
}

output "ttl_attribute" {
  description = "Name of the TTL attribute."
  value       = var.ttl_attribute
}
