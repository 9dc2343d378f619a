output "state_bucket" {
  description = "Name of the state bucket (backend \"s3\" bucket)."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "Name of the lock table (backend \"s3\" dynamodb_table)."
  value       = aws_dynamodb_table.locks.name
}

output "kms_key_alias" {
  description = "KMS key alias for the backend's kms_key_id."
  value       = aws_kms_alias.state.name
}

output "backend_hcl" {
  description = "backend.hcl content for envs/<env> (replace <env>)."
  value       = <<-EOT
    bucket         = "${aws_s3_bucket.state.id}"
    key            = "imgcap/<env>/terraform.tfstate"
    region         = "${var.aws_region}"
    dynamodb_table = "${aws_dynamodb_table.locks.name}"
    encrypt        = true
    kms_key_id     = "${aws_kms_alias.state.name}"
  EOT
}
