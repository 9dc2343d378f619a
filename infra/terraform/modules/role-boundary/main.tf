# The permissions boundary of every role of one environment's stack, imgcap-<env>-role-boundary,
# rendered from docs/iam/role-boundary.json: the most the stack's roles may do, on this
# environment's resources. modules/ci-roles creates it (from bootstrap, out of the CI deploy
# role's reach); envs/emulator creates it too, so its apply puts it on real roles.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

module "policy" {
  source   = "../policy-template"
  template = "role-boundary.json"
  vars = {
    partition         = data.aws_partition.current.partition
    region            = data.aws_region.current.name
    account_id        = data.aws_caller_identity.current.account_id
    environment       = var.environment
    name_prefix       = "imgcap-${var.environment}"
    model_objects_arn = var.model_bucket == null ? "" : "arn:${data.aws_partition.current.partition}:s3:::${var.model_bucket}/*"
  }
  # Without a model_bucket the artifact lies in one of the environment's own buckets (ImageObjects).
  omit_statements = var.model_bucket == null ? ["ModelArtifacts"] : []
}

resource "aws_iam_policy" "this" {
  name        = "imgcap-${var.environment}-role-boundary"
  description = "Permissions boundary of every role of the ${var.environment} stack (docs/iam/role-boundary.json)."
  policy      = module.policy.json
  tags        = var.tags
}
