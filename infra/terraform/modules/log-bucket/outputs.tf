output "bucket_name" {
  description = "Name of the access-log bucket, once its policy grants log delivery: a logging configuration or an ALB that targets it waits for the grant (S3 and ELB check it)."
  value       = aws_s3_bucket.this.id

  depends_on = [aws_s3_bucket_policy.this]
}

output "bucket_arn" {
  description = "ARN of the access-log bucket."
  value       = aws_s3_bucket.this.arn
}

output "s3_access_log_prefixes" {
  description = "target_prefix for aws_s3_bucket_logging, per source bucket: s3-access/<bucket>/."
  value       = local.s3_access_log_prefixes
}

output "alb_log_prefix" {
  description = "Key prefix under which ALB access logs are delivered (access_logs.prefix of the ALB)."
  value       = local.alb_log_prefix
}
