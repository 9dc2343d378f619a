# Optional CloudFront in front of the ALB: its own web ACL (waf.tf), and a secret header it adds
# to every origin request, which the ALB requires (requests without it get 403), so that nobody
# reaches the ALB around CloudFront and its WAF.
locals {
  origin_verify_header = "X-Origin-Verify"
}

# AWS managed CloudFront policies: no caching (every response is per user), forward everything
# the app needs, add the standard security headers (HSTS, nosniff, frame options, ...).
data "aws_cloudfront_cache_policy" "disabled" {
  count = var.enable_cloudfront ? 1 : 0
  name  = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_viewer" {
  count = var.enable_cloudfront ? 1 : 0
  name  = "Managed-AllViewer"
}

data "aws_cloudfront_response_headers_policy" "security" {
  count = var.enable_cloudfront ? 1 : 0
  name  = "Managed-SecurityHeadersPolicy"
}

# The header value: generated into a Secrets Manager secret by the root
# (modules/generated-secret) and read here. Being part of the distribution and listener
# configuration, it is also in the (encrypted) state.
data "aws_secretsmanager_secret_version" "origin_verify" {
  count      = var.enable_cloudfront ? 1 : 0
  secret_id  = var.origin_verify_secret_arn
  version_id = var.origin_verify_version_id

  lifecycle {
    precondition {
      condition     = var.origin_verify_secret_arn != null && var.origin_verify_version_id != null
      error_message = "enable_cloudfront needs origin_verify_secret_arn and origin_verify_version_id (the generated origin-verify header value)."
    }
  }
}

resource "aws_lb_listener_rule" "origin_verify" {
  count        = var.enable_cloudfront ? 1 : 0
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }

  condition {
    http_header {
      http_header_name = local.origin_verify_header
      values           = [data.aws_secretsmanager_secret_version.origin_verify[0].secret_string]
    }
  }

  tags = var.tags
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_86:CloudFront standard logging needs an ACL-enabled bucket; our buckets enforce BucketOwnerEnforced. Every request is still logged by the ALB access logs and WAF logs.
  #checkov:skip=CKV_AWS_310:Single origin by design (the ALB spans two AZs); there is no second origin to fail over to.
  #checkov:skip=CKV_AWS_305:The origin is a dynamic app that serves / itself; a default root object does not apply.
  #checkov:skip=CKV_AWS_374:No geo restriction: the service is offered worldwide.
  count           = var.enable_cloudfront ? 1 : 0
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name_prefix} web app"
  aliases         = [var.domain_name]
  price_class     = "PriceClass_100"
  http_version    = "http2and3"
  web_acl_id      = aws_wafv2_web_acl.edge[0].arn

  origin {
    domain_name = local.origin_domain
    origin_id   = "alb"

    custom_header {
      name  = local.origin_verify_header
      value = data.aws_secretsmanager_secret_version.origin_verify[0].secret_string
    }

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id           = "alb"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled[0].id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer[0].id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.cloudfront_certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.cloudfront_certificate_arn != null && var.route53_zone_id != null
      error_message = "enable_cloudfront needs cloudfront_certificate_arn (us-east-1) and route53_zone_id (for origin.<domain_name>)."
    }
  }
}
