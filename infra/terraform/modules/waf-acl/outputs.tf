output "arn" {
  description = "ARN of the web ACL."
  value       = aws_wafv2_web_acl.this.arn
}

output "rate_limit_key" {
  description = "What the web ACL's rate limit counts per, as configured on the web ACL: IP or FORWARDED_IP."
  value       = one([for r in aws_wafv2_web_acl.this.rule : r.statement[0].rate_based_statement[0].aggregate_key_type if r.name == "rate-limit-per-ip"])
}
