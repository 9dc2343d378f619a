output "endpoint_name" {
  description = "Name of the SageMaker endpoint (IMGCAP_SAGEMAKER_ENDPOINT)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint."
  value       = aws_sagemaker_endpoint.this.arn
}

output "variant_name" {
  description = "Name of the primary production variant."
  value       = local.variant_name
}

output "candidate_variant_name" {
  description = "Name of the candidate variant (weighted or shadow) while a model is on trial, else null."
  value       = var.candidate == null ? null : "candidate"
}

output "candidate_mode" {
  description = "How the candidate gets traffic: \"weighted\" (answers its share) or \"shadow\" (a copy; its answers are dropped); null without a candidate."
  value       = var.candidate == null ? null : var.candidate.mode
}

output "model_name" {
  description = "Name of the primary variant's SageMaker model."
  value       = aws_sagemaker_model.this[local.variant_name].name
}

output "model_names" {
  description = "SageMaker model of each variant, by variant name."
  value       = { for name, m in aws_sagemaker_model.this : name => m.name }
}

output "endpoint_config_name" {
  description = "Name of the current endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "instance_type" {
  description = "Instance type the primary variant runs on."
  value       = var.instance_type
}

output "inference_ami_versions" {
  description = "Inference AMI of each variant: the GPU driver/CUDA version on NVIDIA GPU types, null on CPU types (SageMaker's default AMI)."
  value = merge(
    { for v in aws_sagemaker_endpoint_configuration.this.production_variants : v.variant_name => v.inference_ami_version },
    { for v in aws_sagemaker_endpoint_configuration.this.shadow_production_variants : v.variant_name => v.inference_ami_version },
  )
}

output "volume_kms_key_arn" {
  description = "KMS key of the endpoint's storage volumes, or null for instance types with local NVMe storage (which reject one)."
  value       = aws_sagemaker_endpoint_configuration.this.kms_key_arn
}

output "role_arn" {
  description = "ARN of the SageMaker execution role."
  value       = aws_iam_role.sagemaker.arn
}

output "role_policy_json" {
  description = "The SageMaker role's policy as applied (rendered from docs/iam/sagemaker-execution-role.json)."
  value       = module.policy.json
}

output "log_group_name" {
  description = "CloudWatch log group of the endpoint."
  value       = aws_cloudwatch_log_group.endpoint.name
}

output "alarm_arns" {
  description = "ARNs of the 5xx and p95 latency alarms of every variant."
  value       = concat([for a in aws_cloudwatch_metric_alarm.errors_5xx : a.arn], [for a in aws_cloudwatch_metric_alarm.model_latency : a.arn])
}

output "role_permissions_boundaries" {
  description = "Each role of this module (name) and the permissions boundary it carries (null: none)."
  value       = { (aws_iam_role.sagemaker.name) = aws_iam_role.sagemaker.permissions_boundary }
}

output "capacity" {
  description = "The primary variant's instances: initial count and autoscaling bounds."
  value = {
    initial = var.instance_count
    min     = var.min_instances
    max     = max(var.max_instances, var.min_instances)
  }
}
