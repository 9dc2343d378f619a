# Remote state for every imgcap root: a versioned, KMS-encrypted, TLS-only S3 bucket and its
# access-log bucket (state locking: the backend's S3 lock file, use_lockfile), and the CI/CD
# pipeline's Terraform roles (modules/ci-roles) once github_repository is set.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  bucket_name = coalesce(var.state_bucket_name, "imgcap-tfstate-${local.account_id}-${var.aws_region}")
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "Resource": "*" means this key only, and access is limited to this account's IAM principals.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: "*" is the only valid resource in a key policy and refers to the key itself.
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: the account-root statement is the standard delegation to IAM policies; without it the key becomes unmanageable.
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "state" {
  description             = "imgcap Terraform state and lock table"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/imgcap-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

# --- state bucket -----------------------------------------------------------------------------
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:State is small and versioned; cross-region replication is not worth a second region's setup for it.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events on state objects.
  bucket = local.bucket_name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_state_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

resource "aws_s3_bucket_logging" "state" {
  bucket = aws_s3_bucket.state.id
  # bucket_name is read once the log bucket's policy grants S3 log delivery (S3 checks it).
  target_bucket = module.log_bucket.bucket_name
  target_prefix = module.log_bucket.s3_access_log_prefixes[local.bucket_name]
}

data "aws_iam_policy_document" "state" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
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

  statement {
    sid       = "DenyTlsOlderThan12"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket     = aws_s3_bucket.state.id
  policy     = data.aws_iam_policy_document.state.json
  depends_on = [aws_s3_bucket_public_access_block.state]
}

# --- access-log bucket ------------------------------------------------------------------------
module "log_bucket" {
  source              = "../modules/log-bucket"
  bucket_name         = "${local.bucket_name}-logs"
  source_bucket_names = [local.bucket_name]
}

# The access-log bucket was written out here before modules/log-bucket existed.
moved {
  from = aws_s3_bucket.logs
  to   = module.log_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_public_access_block.logs
  to   = module.log_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.logs
  to   = module.log_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_versioning.logs
  to   = module.log_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.logs
  to   = module.log_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.logs
  to   = module.log_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.logs
  to   = module.log_bucket.aws_s3_bucket_policy.this
}

# --- lock table (retired) -------------------------------------------------------------------------
# The backends lock with an S3 lock file next to the state (use_lockfile) instead of the
# deprecated dynamodb_table. Terraform forgets the old table without deleting it (it has
# deletion protection); delete it by hand once no backend.hcl names it (README_infra.md).
removed {
  from = aws_dynamodb_table.locks

  lifecycle {
    destroy = false
  }
}

# --- CI/CD roles ------------------------------------------------------------------------------
module "ci_roles" {
  count                = var.github_repository != null ? 1 : 0
  source               = "../modules/ci-roles"
  github_repository    = var.github_repository
  environments         = var.ci_environments
  state_bucket_arn     = aws_s3_bucket.state.arn
  state_kms_key_arn    = aws_kms_key.state.arn
  create_oidc_provider = var.create_github_oidc_provider
  tags                 = { Component = "ci-roles" }
}
