output "repository_urls" {
  description = "Repository URLs keyed by web / inference (push imgcap-web and imgcap-inference images here)."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs keyed by web / inference."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "repository_names" {
  description = "Repository names keyed by web / inference."
  value       = { for k, r in aws_ecr_repository.this : k => r.name }
}
