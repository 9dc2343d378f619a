output "app_url" {
  description = "HTTPS URL of the app."
  value       = module.web.app_url
}

output "cognito_hosted_ui_url" {
  description = "Cognito hosted-UI sign-in URL."
  value       = module.auth.hosted_ui_login_url
}

output "sagemaker_endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = module.inference.endpoint_name
}

output "sagemaker_endpoint_config_name" {
  description = "Endpoint configuration Terraform applied; scripts/deploy.sh checks the endpoint runs it (SageMaker rolls a failed update back to the previous one)."
  value       = module.inference.endpoint_config_name
}

output "sagemaker_candidate_variant_name" {
  description = "Name of the candidate SageMaker variant while a model is on trial (scripts/promote-model.sh), else null."
  value       = module.inference.candidate_variant_name
}

output "dashboard_url" {
  description = "CloudWatch dashboard URL."
  value       = module.monitoring.dashboard_url
}

output "alb_dns_name" {
  description = "ALB DNS name (CNAME/alias target when Route 53 is not managed here)."
  value       = module.web.alb_dns_name
}

output "acm_validation_records" {
  description = "DNS records validating the ACM certificate (create them when route53_zone_id is null)."
  value       = module.web.acm_validation_records
}

output "ecr_repository_urls" {
  description = "ECR repository URLs for the web and inference images."
  value       = module.registry.repository_urls
}

output "github_deploy_role_arn" {
  description = "ARN of the GitHub Actions deploy role, or null."
  value       = var.github_repository != null ? module.github_oidc[0].role_arn : null
}

output "cognito_user_pool_id" {
  description = "Id of the Cognito user pool (for infra/scripts/create-admin-user.sh)."
  value       = module.auth.user_pool_id
}

output "web_environment" {
  description = "The IMGCAP_* environment the web task receives."
  value       = local.web_environment
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.web.cluster_name
}

output "ecs_service_name" {
  description = "Name of the ECS service."
  value       = module.web.service_name
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic all alarms notify."
  value       = module.monitoring.sns_topic_arn
}

output "session_key_secret_arn" {
  description = "ARN of the session-key secret (the roots fill it with a generated value)."
  value       = module.secrets.session_key_secret_arn
}
