output "plan_role_arn" {
  description = "ARN of the plan role: repository variable AWS_PLAN_ROLE_ARN."
  value       = aws_iam_role.plan.arn
}

output "deploy_role_arns" {
  description = "ARN of each environment's deploy role: variable AWS_TERRAFORM_ROLE_ARN of that GitHub environment."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}

output "role_boundary_arns" {
  description = "Per environment: the permissions boundary every role of its stack must carry (envs/<env> variable permissions_boundary)."
  value       = { for env, b in module.role_boundary : env => local.boundary_arns[env] }
}

output "role_boundary_json" {
  description = "Each environment's role boundary as applied (rendered from docs/iam/role-boundary.json)."
  value       = { for env, b in module.role_boundary : env => b.json }
}

output "plan_trust_json" {
  description = "The plan role's trust policy."
  value       = local.plan_trust
}

output "deploy_trust_json" {
  description = "Each deploy role's trust policy."
  value       = local.deploy_trust
}

output "plan_policy_json" {
  description = "The plan role's inline policy as applied (rendered from docs/iam/ci-plan-role.json)."
  value       = module.plan_policy.json
}

output "deploy_policy_json" {
  description = "Each deploy role's whole policy (rendered from docs/iam/ci-deploy-role.json), applied as the managed policies of deploy_policy_parts."
  value       = { for env, p in module.deploy_policy : env => p.json }
}

output "deploy_policy_parts" {
  description = "The managed policies each deploy role's policy is cut into (name => policy JSON): IAM takes at most 6,144 characters a managed policy."
  value       = { for name, part in local.deploy_parts : name => part.policy }
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider."
  value       = local.provider_arn
}
