variable "name" {
  type        = string
  description = "Name of the web ACL (also its CloudWatch metric and, as aws-waf-logs-<name>, its log group), e.g. \"imgcap-prod-web\"."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,100}[a-z0-9]$", var.name))
    error_message = "name must be lower-case letters, digits and hyphens."
  }
}

variable "metric_prefix" {
  type        = string
  description = "Prefix of the per-rule CloudWatch metric names (<prefix>-rate-limit, <prefix>-common, ...)."
}

variable "description" {
  type        = string
  description = "Description of the web ACL."
}

variable "scope" {
  type        = string
  description = "REGIONAL (ALB) or CLOUDFRONT (the provider must then be in us-east-1)."

  validation {
    condition     = contains(["REGIONAL", "CLOUDFRONT"], var.scope)
    error_message = "scope must be REGIONAL or CLOUDFRONT."
  }
}

variable "rate_limit" {
  type        = number
  description = "Requests per 5 minutes from one client address before the web ACL blocks it."

  validation {
    condition     = var.rate_limit >= 10 && var.rate_limit <= 2000000000
    error_message = "rate_limit must be between 10 and 2000000000."
  }
}

variable "rate_limit_key" {
  type        = string
  description = "What the rate limit counts per: IP (the connection's source) or FORWARDED_IP (the first address in X-Forwarded-For, for an ALB behind CloudFront)."
  default     = "IP"

  validation {
    condition     = contains(["IP", "FORWARDED_IP"], var.rate_limit_key)
    error_message = "rate_limit_key must be IP or FORWARDED_IP."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key for the log group, in the log group's (the provider's) region."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the WAF log group (a value CloudWatch Logs accepts)."
}

variable "tags" {
  type        = map(string)
  description = "Extra tags."
  default     = {}
}
