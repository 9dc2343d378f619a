# WAF (modules/waf-acl): a regional web ACL on the ALB and, with CloudFront, a CLOUDFRONT-scope
# web ACL on the distribution, created in us-east-1 through the aws.us_east_1 provider as WAF
# requires. Each has its own per-client rate limit.
module "waf_regional" {
  source        = "../waf-acl"
  name          = "${var.name_prefix}-web"
  metric_prefix = var.name_prefix
  description   = "imgcap web app: AWS managed rules + per-IP rate limit"
  scope         = "REGIONAL"
  rate_limit    = var.waf_rate_limit
  # Behind CloudFront the ALB sees edge addresses: its rate limit then counts the first address
  # in X-Forwarded-For, which CloudFront fills with the client's. A client can put a forged one
  # in front, so the edge web ACL, which sees the real address, is the limit that holds.
  rate_limit_key     = var.enable_cloudfront ? "FORWARDED_IP" : "IP"
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = module.waf_regional.arn
}

module "waf_edge" {
  count              = var.enable_cloudfront ? 1 : 0
  source             = "../waf-acl"
  providers          = { aws = aws.us_east_1 }
  name               = "${var.name_prefix}-edge"
  metric_prefix      = "${var.name_prefix}-edge"
  description        = "imgcap CloudFront distribution: AWS managed rules + per-IP rate limit"
  scope              = "CLOUDFRONT"
  rate_limit         = var.waf_rate_limit
  kms_key_arn        = var.edge_kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

# The regional web ACL and its logging used to be declared here directly.
moved {
  from = aws_wafv2_web_acl.this
  to   = module.waf_regional.aws_wafv2_web_acl.this
}

moved {
  from = aws_cloudwatch_log_group.waf
  to   = module.waf_regional.aws_cloudwatch_log_group.this
}

moved {
  from = aws_wafv2_web_acl_logging_configuration.this
  to   = module.waf_regional.aws_wafv2_web_acl_logging_configuration.this
}
