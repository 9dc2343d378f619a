output "role_arn" {
  description = "ARN of the deploy role (use it as role-to-assume in aws-actions/configure-aws-credentials)."
  value       = aws_iam_role.deploy.arn
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider."
  value       = local.provider_arn
}

output "subject" {
  description = "The only token subject allowed to assume the role."
  value       = local.subject
}

output "policy_json" {
  description = "The deploy role's policy as applied (rendered from docs/iam/github-deploy-role.json)."
  value       = module.policy.json
}

output "role_permissions_boundaries" {
  description = "Each role of this module (name) and the permissions boundary it carries (null: none)."
  value       = { (aws_iam_role.deploy.name) = aws_iam_role.deploy.permissions_boundary }
}
