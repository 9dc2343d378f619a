output "task_role_arn" {
  description = "ARN of the ECS task role."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the ECS task role."
  value       = aws_iam_role.task.name
}

output "execution_role_arn" {
  description = "ARN of the ECS task execution role."
  value       = aws_iam_role.execution.arn
}

output "execution_role_name" {
  description = "Name of the ECS task execution role."
  value       = aws_iam_role.execution.name
}

output "task_policy_json" {
  description = "The task role's policy as applied (rendered from docs/iam/task-role.json)."
  value       = module.task_policy.json
}

output "execution_policy_json" {
  description = "The execution role's policy as applied (rendered from docs/iam/execution-role.json)."
  value       = module.execution_policy.json
}

output "role_permissions_boundaries" {
  description = "Each role of this module (name) and the permissions boundary it carries (null: none)."
  value       = { (aws_iam_role.task.name) = aws_iam_role.task.permissions_boundary, (aws_iam_role.execution.name) = aws_iam_role.execution.permissions_boundary }
}
