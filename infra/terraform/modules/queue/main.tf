# Caption job queue and its dead-letter queue, both KMS-encrypted and TLS-only.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  queue_name = "${var.name_prefix}-captions"
  dlq_name   = "${var.name_prefix}-captions-dlq"
  arn_prefix = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  # Known before creation, so the policies can be set inline (one attribute-propagation wait
  # per queue instead of two).
  queue_arn = "${local.arn_prefix}:${local.queue_name}"
  dlq_arn   = "${local.arn_prefix}:${local.dlq_name}"
}

data "aws_iam_policy_document" "tls_only" {
  for_each = {
    captions = local.queue_arn
    dlq      = local.dlq_arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]
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
}

resource "aws_sqs_queue" "dlq" {
  name                              = local.dlq_name
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  policy                            = data.aws_iam_policy_document.tls_only["dlq"].json
  tags                              = var.tags
}

resource "aws_sqs_queue" "captions" {
  name                              = local.queue_name
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  policy                            = data.aws_iam_policy_document.tls_only["captions"].json

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.enable_redrive_allow_policy ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.captions.arn]
  })
}
