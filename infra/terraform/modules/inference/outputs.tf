output "endpoint_name" {
  description = "Name of the SageMaker endpoint (IMGCAP_SAGEMAKER_ENDPOINT)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint."
  value       = aws_sagemaker_endpoint.this.arn
}

output "variant_name" {
  description = "Name of the production variant."
  value       = local.variant_name
}

output "model_name" {
  description = "Name of the current SageMaker model."
  value       = aws_sagemaker_model.this.name
}

output "endpoint_config_name" {
  description = "Name of the current endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "instance_type" {
  description = "Instance type the endpoint runs on."
  value       = var.instance_type
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
  description = "ARNs of the endpoint's 5xx and latency alarms."
  value       = [aws_cloudwatch_metric_alarm.errors_5xx.arn, aws_cloudwatch_metric_alarm.model_latency.arn]
}
