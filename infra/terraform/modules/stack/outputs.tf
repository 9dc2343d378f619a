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

output "cloudfront_domain_name" {
  description = "Domain name of the CloudFront distribution (the alias target of domain_name), or null without CloudFront."
  value       = module.web.cloudfront_domain_name
}

output "waf_web_acl_arns" {
  description = "ARNs of the WAF web ACLs: regional (on the ALB) and edge (on CloudFront, null without it)."
  value       = { regional = module.web.waf_web_acl_arn, edge = module.web.edge_waf_web_acl_arn }
}

output "origin_verify_header" {
  description = "Name of the header CloudFront adds and the ALB requires (value in origin_verify_secret_arn), or null without CloudFront."
  value       = try(module.web.origin_verify.header_name, null)
}

output "origin_verify_secret_arn" {
  description = "ARN of the origin-verify header secret (the roots fill it with a generated value), or null without CloudFront."
  value       = module.secrets.origin_verify_secret_arn
}

output "cognito_client_id" {
  description = "Id of the public Cognito app client (IMGCAP_OIDC_CLIENT_ID)."
  value       = module.auth.client_id
}

output "cognito_test_user_secret_arn" {
  description = "ARN of the secret holding the acceptance-test user's password, or null without the test user."
  value       = module.secrets.cognito_test_user_secret_arn
}

output "cognito_test_user_name" {
  description = "Username (email) of the acceptance-test user, or null without it."
  value       = module.auth.test_user_name
}

output "hf_api_key_secret_arn" {
  description = "ARN of the Hugging Face API key secret (put the token there), or null when not created."
  value       = module.secrets.hf_api_key_secret_arn
}

output "role_permissions_boundaries" {
  description = "Every IAM role the stack creates (name) and the permissions boundary it carries: var.permissions_boundary, or null without one."
  value = merge(
    module.iam.role_permissions_boundaries,
    module.inference.role_permissions_boundaries,
    module.network.role_permissions_boundaries,
    [for m in module.github_oidc : m.role_permissions_boundaries]...
  )
}
