# The pipeline's Terraform roles, assumed by GitHub Actions through OIDC (no stored AWS keys):
#
#   <prefix>-ci-plan          terraform plan of any environment: AWS's ReadOnlyAccess (refresh
#                             reads the configuration of ~20 services) plus reading the state;
#                             trusted by pull requests of the repository and by the CD plan jobs
#                             (main and release tags). It writes nothing, not even a state lock:
#                             plans run with -lock=false and a saved plan refuses to apply once
#                             the state has changed.
#   imgcap-<env>-ci-deploy    terraform apply of one environment: the write actions of
#                             docs/iam/ci-deploy-role.json, scoped to that environment's names
#                             (imgcap-<env>-*) or Environment/Project tags, plus ReadOnlyAccess;
#                             trusted only by jobs in the GitHub environment <env>, whose
#                             protection rules (required reviewers) are the approval step.
#   imgcap-<env>-role-boundary
#                             the permissions boundary every role of the <env> stack must carry
#                             (docs/iam/role-boundary.json): the deploy role may create and write
#                             imgcap-<env>-* roles only with it, so a policy it writes into a stack
#                             role can never exceed what the stack's roles need. Created here, from
#                             bootstrap: the deploy role has no action on managed policies.
#
# The policies are rendered from docs/iam/ci-*.json (modules/policy-template); the reasoning
# for every statement that is not resource-scoped is in scripts/tf/iam_policies.py.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  region       = data.aws_region.current.name
  partition    = data.aws_partition.current.partition
  issuer       = module.oidc_provider.issuer
  provider_arn = module.oidc_provider.arn
  read_only    = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"

  plan_subjects = concat(
    ["repo:${var.github_repository}:pull_request"],
    [for ref in var.plan_refs : "repo:${var.github_repository}:ref:${ref}"],
  )

  # Trust policies as plain JSON (not aws_iam_policy_document) so the mocked terraform test can
  # read their conditions. StringLike for the plan role: the release-tag pattern refs/tags/v*.
  plan_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = local.provider_arn }
      Condition = {
        StringEquals = { "${local.issuer}:aud" = "sts.amazonaws.com" }
        StringLike   = { "${local.issuer}:sub" = local.plan_subjects }
      }
    }]
  })

  # A deploy role: only jobs that run in the GitHub environment of the same name.
  deploy_trust = {
    for env in keys(var.environments) : env => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Action    = "sts:AssumeRoleWithWebIdentity"
        Principal = { Federated = local.provider_arn }
        Condition = {
          StringEquals = {
            "${local.issuer}:aud" = "sts.amazonaws.com"
            "${local.issuer}:sub" = "repo:${var.github_repository}:environment:${env}"
          }
        }
      }]
    })
  }
}

module "oidc_provider" {
  source = "../github-oidc-provider"
  create = var.create_oidc_provider
  tags   = var.tags
}

# --- plan role --------------------------------------------------------------------------------
module "plan_policy" {
  source   = "../policy-template"
  template = "ci-plan-role.json"
  vars = {
    partition         = local.partition
    region            = local.region
    account_id        = local.account_id
    state_bucket_arn  = var.state_bucket_arn
    state_kms_key_arn = var.state_kms_key_arn
  }
}

resource "aws_iam_role" "plan" {
  name                 = "${var.name_prefix}-ci-plan"
  description          = "terraform plan for ${var.github_repository} (pull requests, CD plan jobs); read-only."
  assume_role_policy   = local.plan_trust
  max_session_duration = var.plan_session_seconds
  tags                 = var.tags
}

resource "aws_iam_role_policy" "plan" {
  name   = "terraform-state-read"
  role   = aws_iam_role.plan.id
  policy = module.plan_policy.json
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = local.read_only
}

# --- stack role boundaries, one per environment -------------------------------------------------
locals {
  # Built from the name rather than read from module.role_boundary: the deploy policy's
  # condition must equal the ARN the stack passes as permissions_boundary, character for character.
  boundary_arns = { for env in keys(var.environments) : env => "arn:${local.partition}:iam::${local.account_id}:policy/imgcap-${env}-role-boundary" }
}

module "role_boundary" {
  source       = "../role-boundary"
  for_each     = var.environments
  environment  = each.key
  model_bucket = each.value.model_bucket
  tags         = merge(var.tags, { Environment = each.key })
}

# --- deploy roles, one per environment ----------------------------------------------------------
module "deploy_policy" {
  source   = "../policy-template"
  for_each = var.environments
  template = "ci-deploy-role.json"
  vars = {
    partition             = local.partition
    region                = local.region
    account_id            = local.account_id
    environment           = each.key
    name_prefix           = "imgcap-${each.key}"
    state_bucket_arn      = var.state_bucket_arn
    state_kms_key_arn     = var.state_kms_key_arn
    promote_source_prefix = each.value.promote_from == null ? "" : "imgcap-${each.value.promote_from}"
    route53_zone_id       = each.value.route53_zone_id == null ? "" : each.value.route53_zone_id
    role_boundary_arn     = local.boundary_arns[each.key]
  }
  # Statements of features this environment does not use.
  omit_statements = concat(
    each.value.promote_from == null ? ["EcrPromoteSource"] : [],
    each.value.route53_zone_id == null ? ["Route53Records"] : [],
  )
}

resource "aws_iam_role" "deploy" {
  for_each             = var.environments
  name                 = "imgcap-${each.key}-ci-deploy"
  description          = "terraform apply of envs/${each.key} for ${var.github_repository} (GitHub environment ${each.key} only)."
  assume_role_policy   = local.deploy_trust[each.key]
  max_session_duration = var.deploy_session_seconds
  tags                 = merge(var.tags, { Environment = each.key })
}

# The deploy policy (~19,000 characters) is over IAM's limits for one role's inline policies
# (10,240 in all) and for one managed policy (6,144), so its statements are cut, in order, into
# managed policies: a statement goes to part floor(end / budget), where `end` is where it ends in
# the concatenated statements. A part then holds at most budget + its largest statement, which
# the budget leaves room for; the module test checks every part against 6,144.
locals {
  deploy_part_budget = 4300

  deploy_parts = merge([
    for env, policy in module.deploy_policy : {
      for part, statements in {
        for i, statement in jsondecode(policy.json).Statement :
        floor(sum(concat([0], [for s in slice(jsondecode(policy.json).Statement, 0, i + 1) : length(jsonencode(s))])) / local.deploy_part_budget) => statement...
      } : "${env}-${part + 1}" => { env = env, policy = jsonencode({ Version = "2012-10-17", Statement = statements }) }
    }
  ]...)
}

resource "aws_iam_policy" "deploy" {
  for_each    = local.deploy_parts
  name        = "imgcap-${each.key}-ci-deploy"
  description = "terraform apply of envs/${each.value.env}, part ${trimprefix(each.key, "${each.value.env}-")} of docs/iam/ci-deploy-role.json."
  policy      = each.value.policy
  tags        = merge(var.tags, { Environment = each.value.env })
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each   = local.deploy_parts
  role       = aws_iam_role.deploy[each.value.env].name
  policy_arn = aws_iam_policy.deploy[each.key].arn
}

resource "aws_iam_role_policy_attachment" "deploy_read_only" {
  for_each   = var.environments
  role       = aws_iam_role.deploy[each.key].name
  policy_arn = local.read_only
}
