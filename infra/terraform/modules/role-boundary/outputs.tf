output "arn" {
  description = "ARN of the boundary: the permissions_boundary of the environment's stack."
  value       = aws_iam_policy.this.arn
}

output "name" {
  description = "Name of the boundary policy (imgcap-<environment>-role-boundary)."
  value       = aws_iam_policy.this.name
}

output "json" {
  description = "The boundary as applied (rendered from docs/iam/role-boundary.json)."
  value       = aws_iam_policy.this.policy
}
