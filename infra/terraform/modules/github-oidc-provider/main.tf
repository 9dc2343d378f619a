# The account's OIDC identity provider for GitHub Actions tokens (one per account): created here,
# or looked up where it exists already. Used by ci-roles (from bootstrap) and github-oidc.
locals {
  issuer = "token.actions.githubusercontent.com"
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create ? 1 : 0
  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS trusts GitHub's certificate authority for this issuer; no thumbprint pinning needed.
  tags = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create ? 0 : 1
  url   = "https://${local.issuer}"
}
