# A bucket for access logs: S3 server access logs of other buckets (under s3-access/<bucket>/)
# and, optionally, ALB access logs (under alb/). SSE-S3, because S3 and ELB log delivery cannot
# write to SSE-KMS buckets. Used by bootstrap (the state bucket's logs) and modules/storage (the
# image bucket's and the ALB's logs).
data "aws_caller_identity" "current" {}

data "aws_elb_service_account" "current" {
  count = var.enable_alb_log_delivery ? 1 : 0
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # aws_s3_bucket_logging.target_prefix of each source bucket: the only place the policy lets
  # S3 log delivery write.
  s3_access_log_prefixes = { for b in var.source_bucket_names : b => "s3-access/${b}/" }
  alb_log_prefix         = "alb"
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging it into itself would loop and a third bucket adds nothing.
  #checkov:skip=CKV_AWS_144:Access logs are operational data kept in-region; replication is not worth its cost here.
  #checkov:skip=CKV2_AWS_62:No consumer for events on log objects.
  #checkov:skip=CKV_AWS_145:S3 server access logging and ALB access logs can only be delivered to buckets with SSE-S3 (AES256) default encryption, not SSE-KMS.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}

    expiration {
      days = var.retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "this" {
  # Keep the log-delivery grant first: S3 emulators (moto) stop at the first statement whose
  # principal is not a service when checking that logging may be enabled.
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = [for p in values(local.s3_access_log_prefixes) : "${aws_s3_bucket.this.arn}/${p}*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    # Regions launched before August 2022 deliver ALB logs from the regional ELB account.
    for_each = var.enable_alb_log_delivery ? [1] : []
    content {
      sid       = "AlbAccessLogsElbAccount"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/${local.alb_log_prefix}/AWSLogs/${local.account_id}/*"]
      principals {
        type        = "AWS"
        identifiers = [data.aws_elb_service_account.current[0].arn]
      }
    }
  }

  dynamic "statement" {
    # Newer regions deliver ALB logs from the log-delivery service principal.
    for_each = var.enable_alb_log_delivery ? [1] : []
    content {
      sid       = "AlbAccessLogsServicePrincipal"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/${local.alb_log_prefix}/AWSLogs/${local.account_id}/*"]
      principals {
        type        = "Service"
        identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
