# One customer-managed key for the whole environment: S3 objects, DynamoDB, SQS, Secrets Manager,
# ECR, SageMaker volumes, CloudWatch Logs and the alarm SNS topic. Rotation is on.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "Resource": "*" means this key only, and write access is limited to this account's IAM principals and the two service principals with conditions.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: "*" is the only valid resource in a key policy and refers to the key itself.
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: the account-root statement is the standard delegation to IAM policies; without it the key becomes unmanageable.
  # Standard key-policy statement: lets IAM policies in this account grant use of the key.
  # In a key policy "Resource": "*" means "this key".
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts log groups of this account with the key.
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  dynamic "statement" {
    for_each = var.allow_cloudwatch_alarms ? [1] : []
    content {
      # CloudWatch alarms publish to the KMS-encrypted SNS topic.
      sid       = "CloudWatchAlarmsToEncryptedSns"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: S3, DynamoDB, SQS, Secrets Manager, ECR, SageMaker, logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
