output "app_url" {
  description = "HTTPS URL of the app."
  value       = module.imgcap.app_url
}

output "cognito_hosted_ui_url" {
  description = "Cognito hosted-UI sign-in URL."
  value       = module.imgcap.cognito_hosted_ui_url
}

output "sagemaker_endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = module.imgcap.sagemaker_endpoint_name
}

output "sagemaker_endpoint_config_name" {
  description = "Endpoint configuration Terraform applied; scripts/deploy.sh checks the endpoint runs it (SageMaker rolls a failed update back to the previous one)."
  value       = module.imgcap.sagemaker_endpoint_config_name
}

output "sagemaker_candidate_variant_name" {
  description = "Name of the candidate SageMaker variant while a model is on trial (scripts/promote-model.sh), else null."
  value       = module.imgcap.sagemaker_candidate_variant_name
}

output "dashboard_url" {
  description = "CloudWatch dashboard URL."
  value       = module.imgcap.dashboard_url
}

output "alb_dns_name" {
  description = "ALB DNS name."
  value       = module.imgcap.alb_dns_name
}

output "acm_validation_records" {
  description = "ACM DNS validation records (create them when route53_zone_id is null)."
  value       = module.imgcap.acm_validation_records
}

output "ecr_repository_urls" {
  description = "ECR repository URLs (web, inference)."
  value       = module.imgcap.ecr_repository_urls
}

output "github_deploy_role_arn" {
  description = "ARN of the GitHub Actions deploy role."
  value       = module.imgcap.github_deploy_role_arn
}

output "cognito_user_pool_id" {
  description = "Cognito user pool id (infra/scripts/create-admin-user.sh)."
  value       = module.imgcap.cognito_user_pool_id
}

output "web_environment" {
  description = "The environment variables the web task receives."
  value       = module.imgcap.web_environment
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.imgcap.ecs_cluster_name
}

output "ecs_service_name" {
  description = "Name of the ECS service."
  value       = module.imgcap.ecs_service_name
}

output "cloudfront_domain_name" {
  description = "CloudFront distribution domain name, or null without CloudFront."
  value       = module.imgcap.cloudfront_domain_name
}

output "waf_web_acl_arns" {
  description = "WAF web ACL ARNs: regional (ALB) and edge (CloudFront, null without it)."
  value       = module.imgcap.waf_web_acl_arns
}

output "cognito_client_id" {
  description = "Public Cognito app client id."
  value       = module.imgcap.cognito_client_id
}

output "cognito_test_user_secret_arn" {
  description = "Secret with the acceptance-test user's password (scripts/acceptance.sh), or null."
  value       = module.imgcap.cognito_test_user_secret_arn
}

output "cognito_test_user_name" {
  description = "Username (email) of the acceptance-test user, or null."
  value       = module.imgcap.cognito_test_user_name
}

output "session_key_secret_arn" {
  description = "ARN of the session-key secret."
  value       = module.imgcap.session_key_secret_arn
}

output "hf_api_key_secret_arn" {
  description = "Hugging Face API key secret (put the token there), or null."
  value       = module.imgcap.hf_api_key_secret_arn
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic all alarms notify."
  value       = module.imgcap.alarm_topic_arn
}
