output "bucket_name" {
  description = "Name of the private image bucket (IMGCAP_S3_BUCKET)."
  value       = aws_s3_bucket.images.id
}

output "bucket_arn" {
  description = "ARN of the image bucket."
  value       = aws_s3_bucket.images.arn
}

output "log_bucket_name" {
  description = "Name of the access-log bucket."
  value       = module.log_bucket.bucket_name
}

output "log_bucket_arn" {
  description = "ARN of the access-log bucket."
  value       = module.log_bucket.bucket_arn
}

output "alb_log_prefix" {
  description = "Key prefix under which ALB access logs are delivered in the log bucket."
  value       = module.log_bucket.alb_log_prefix
}

output "originals_prefix" {
  description = "Key prefix of original images: originals/<user id>/<image id>."
  value       = "originals/"
}

output "thumbnails_prefix" {
  description = "Key prefix of thumbnails: thumbnails/<user id>/<image id>.jpg."
  value       = "thumbnails/"
}
