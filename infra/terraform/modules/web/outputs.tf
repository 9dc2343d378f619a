output "app_url" {
  description = "HTTPS URL of the app."
  value       = local.app_url
}

output "alb_dns_name" {
  description = "DNS name of the ALB (point domain_name here when Route 53 is not used and CloudFront is off)."
  value       = aws_lb.this.dns_name
}

output "alb_arn_suffix" {
  description = "ARN suffix of the ALB (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.web.arn_suffix
}

output "cloudfront_domain_name" {
  description = "Domain name of the CloudFront distribution, or null."
  value       = var.enable_cloudfront ? aws_cloudfront_distribution.this[0].domain_name : null
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.web.name
}

output "service_arn" {
  description = "ARN of the ECS service."
  value       = aws_ecs_service.web.id
}

output "task_definition_family" {
  description = "Family of the web task definition."
  value       = aws_ecs_task_definition.web.family
}

output "container_names" {
  description = "Containers of the web task: the app, and the ADOT collector with enable_tracing."
  value       = [for c in jsondecode(aws_ecs_task_definition.web.container_definitions) : c.name]
}

output "log_group_name" {
  description = "CloudWatch log group of the web containers."
  value       = aws_cloudwatch_log_group.web.name
}

output "log_group_arn" {
  description = "ARN of the web log group."
  value       = aws_cloudwatch_log_group.web.arn
}

output "acm_validation_records" {
  description = "DNS records that validate the new ACM certificate (create them yourself when route53_zone_id is null)."
  value = local.create_cert ? [
    for o in aws_acm_certificate.this[0].domain_validation_options : {
      name  = o.resource_record_name
      type  = o.resource_record_type
      value = o.resource_record_value
    }
  ] : []
}

output "waf_web_acl_arn" {
  description = "ARN of the regional WAF web ACL on the ALB."
  value       = module.waf_regional.arn
}

output "edge_waf_web_acl_arn" {
  description = "ARN of the CloudFront-scope WAF web ACL (us-east-1), or null without CloudFront."
  value       = var.enable_cloudfront ? module.waf_edge[0].arn : null
}

output "origin_verify" {
  description = "With CloudFront: the header CloudFront adds and the ALB requires, the listener rule that forwards only requests carrying it, and the status everything else gets; null without CloudFront."
  value = var.enable_cloudfront ? {
    header_name       = local.origin_verify_header
    listener_rule_arn = aws_lb_listener_rule.origin_verify[0].arn
    other_requests    = aws_lb_listener.https.default_action[0].fixed_response[0].status_code
  } : null
}

output "waf_rate_limit_key" {
  description = "What the regional web ACL's rate limit counts per: IP, or FORWARDED_IP (X-Forwarded-For) behind CloudFront."
  value       = module.waf_regional.rate_limit_key
}
