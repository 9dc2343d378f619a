# GitHub Actions OIDC provider and the image-push role of one environment, limited to one
# repository and branch (or GitHub environment). The role may push to and read the two ECR
# repositories, nothing else: CI's push-images job uses it, so a job that builds code from main
# never holds the Terraform roles (modules/ci-roles, applied from bootstrap/).
locals {
  issuer       = module.oidc_provider.issuer
  subject      = var.github_environment != null ? "repo:${var.github_repository}:environment:${var.github_environment}" : "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
  provider_arn = module.oidc_provider.arn
}

module "oidc_provider" {
  source = "../github-oidc-provider"
  create = var.create_oidc_provider
  tags   = var.tags
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
    web_repository_arn       = var.web_repository_arn
    inference_repository_arn = var.inference_repository_arn
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-github-deploy"
  description          = "GitHub Actions image push for ${var.github_repository} (${local.subject})."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy" "deploy" {
  name   = "imgcap-push-images"
  role   = aws_iam_role.deploy.id
  policy = module.policy.json
}

# The provider moved into modules/github-oidc-provider (shared with modules/ci-roles).
moved {
  from = aws_iam_openid_connect_provider.github
  to   = module.oidc_provider.aws_iam_openid_connect_provider.github
}
