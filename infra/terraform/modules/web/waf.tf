# WAF: a regional web ACL on the ALB and, with CloudFront, a CLOUDFRONT-scope web ACL on the
# distribution (created in us-east-1 through the aws.us_east_1 provider, as WAF requires). Both
# carry the same AWS managed rule groups; each has its own per-client rate limit.
locals {
  managed_rule_groups = [
    { name = "ip-reputation", priority = 10, group = "AWSManagedRulesAmazonIpReputationList", count_rules = [] },
    # Block VPNs/Tor/proxies, but only count requests from hosting providers: people on
    # corporate proxies or cloud desktops should still be able to use the app.
    { name = "anonymous-ip", priority = 15, group = "AWSManagedRulesAnonymousIpList", count_rules = ["HostingProviderIPList"] },
    # Image uploads are up to 10 MB; SizeRestrictions_BODY would block every body over 8 KB.
    # The app enforces its own size limit while streaming.
    { name = "common", priority = 20, group = "AWSManagedRulesCommonRuleSet", count_rules = ["SizeRestrictions_BODY"] },
    # Includes the Log4j (Log4Shell) rules.
    { name = "known-bad-inputs", priority = 30, group = "AWSManagedRulesKnownBadInputsRuleSet", count_rules = [] },
  ]

  # Behind CloudFront the ALB sees edge addresses: its rate limit then counts the first address
  # in X-Forwarded-For, which CloudFront fills with the client's. A client can put a forged one
  # in front, so the edge web ACL, which sees the real address, is the limit that holds.
  regional_rate_key = var.enable_cloudfront ? "FORWARDED_IP" : "IP"

  # Never written to the WAF logs.
  redacted_headers = ["authorization", "cookie"]
}

resource "aws_wafv2_web_acl" "this" {
  name        = "${var.name_prefix}-web"
  description = "imgcap web app: AWS managed rules + per-IP rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = local.regional_rate_key

        dynamic "forwarded_ip_config" {
          for_each = local.regional_rate_key == "FORWARDED_IP" ? [1] : []
          content {
            header_name       = "X-Forwarded-For"
            fallback_behavior = "MATCH"
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = local.managed_rule_groups
    content {
      name     = "aws-${rule.value.name}"
      priority = rule.value.priority

      override_action {
        none {}
      }

      statement {
        managed_rule_group_statement {
          name        = rule.value.group
          vendor_name = "AWS"

          dynamic "rule_action_override" {
            for_each = rule.value.count_rules
            content {
              name = rule_action_override.value
              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name_prefix}-${rule.value.name}"
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name_prefix}-web"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  # WAF requires the aws-waf-logs- prefix.
  name              = "aws-waf-logs-${var.name_prefix}-web"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  dynamic "redacted_fields" {
    for_each = local.redacted_headers
    content {
      single_header {
        name = redacted_fields.value
      }
    }
  }
}

# --- CloudFront-scope web ACL (us-east-1) ----------------------------------------------------
resource "aws_wafv2_web_acl" "edge" {
  provider    = aws.us_east_1
  count       = var.enable_cloudfront ? 1 : 0
  name        = "${var.name_prefix}-edge"
  description = "imgcap CloudFront distribution: AWS managed rules + per-IP rate limit"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-edge-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = local.managed_rule_groups
    content {
      name     = "aws-${rule.value.name}"
      priority = rule.value.priority

      override_action {
        none {}
      }

      statement {
        managed_rule_group_statement {
          name        = rule.value.group
          vendor_name = "AWS"

          dynamic "rule_action_override" {
            for_each = rule.value.count_rules
            content {
              name = rule_action_override.value
              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name_prefix}-edge-${rule.value.name}"
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name_prefix}-edge"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "waf_edge" {
  provider = aws.us_east_1
  count    = var.enable_cloudfront ? 1 : 0
  # WAF requires the aws-waf-logs- prefix, and the group in the web ACL's region.
  name              = "aws-waf-logs-${var.name_prefix}-edge"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.edge_kms_key_arn
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = var.edge_kms_key_arn != null
      error_message = "enable_cloudfront needs edge_kms_key_arn: a KMS key in us-east-1 for the edge WAF log group."
    }
  }
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  provider                = aws.us_east_1
  count                   = var.enable_cloudfront ? 1 : 0
  resource_arn            = aws_wafv2_web_acl.edge[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf_edge[0].arn]

  dynamic "redacted_fields" {
    for_each = local.redacted_headers
    content {
      single_header {
        name = redacted_fields.value
      }
    }
  }
}
