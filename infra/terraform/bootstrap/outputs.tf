output "state_bucket" {
  description = "Name of the state bucket (backend \"s3\" bucket)."
  value       = aws_s3_bucket.state.id
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
    use_lockfile   = true
    encrypt        = true
    kms_key_id     = "${aws_kms_alias.state.name}"
  EOT
}

output "plan_role_arn" {
  description = "Repository variable AWS_PLAN_ROLE_ARN (null without github_repository)."
  value       = var.github_repository != null ? module.ci_roles[0].plan_role_arn : null
}

output "deploy_role_arns" {
  description = "Per GitHub environment: its variable AWS_TERRAFORM_ROLE_ARN (empty without github_repository)."
  value       = var.github_repository != null ? module.ci_roles[0].deploy_role_arns : {}
}

output "role_boundary_arns" {
  description = "Per environment: the permissions boundary of its stack's roles, the variable permissions_boundary of envs/<env> (empty without github_repository)."
  value       = var.github_repository != null ? module.ci_roles[0].role_boundary_arns : {}
}
