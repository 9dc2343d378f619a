# GitHub Actions OIDC provider and the CD deploy role, limited to one repository and branch.
# The role may: push the two images, register a task definition and redeploy the web service,
# create a new SageMaker model/endpoint config and update the endpoint. Nothing else - it does
# not run terraform (infrastructure changes are applied by a person, see README_infra.md).
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  region       = data.aws_region.current.name
  partition    = data.aws_partition.current.partition
  issuer       = "token.actions.githubusercontent.com"
  subject      = var.github_environment != null ? "repo:${var.github_repository}:environment:${var.github_environment}" : "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
  provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS trusts GitHub's certificate authority for this issuer; no thumbprint pinning needed.
  tags = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1
  url   = "https://${local.issuer}"
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [local.subject]
    }
  }
}

module "policy" {
  source   = "../policy-template"
  template = "github-deploy-role.json"
  vars = {
    partition                = local.partition
    region                   = local.region
    account_id               = local.account_id
    name_prefix              = var.name_prefix
    web_repository_arn       = var.web_repository_arn
    inference_repository_arn = var.inference_repository_arn
    ecs_service_arn          = var.ecs_service_arn
    task_role_arn            = var.task_role_arn
    execution_role_arn       = var.execution_role_arn
    endpoint_arn             = var.sagemaker_endpoint_arn
    sagemaker_role_arn       = var.sagemaker_role_arn
    kms_key_arn              = var.kms_key_arn
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-github-deploy"
  description          = "GitHub Actions CD for ${var.github_repository} (${local.subject})."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "deploy" {
  name   = "imgcap-cd"
  role   = aws_iam_role.deploy.id
  policy = module.policy.json
}
