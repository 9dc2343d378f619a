# The pipeline roles against a mocked AWS provider (no account, no network): the plan role can
# only read, each deploy role is trusted only by its GitHub environment, has no iam:* and no IAM
# action on "*", and passes only this environment's roles to the services that need them; it
# creates and writes those roles only with the environment's permissions boundary, which it
# cannot change or remove.
# Run: cd infra/terraform/modules/ci-roles && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }

  mock_resource "aws_iam_policy" {
    defaults = {
      arn = "arn:aws:iam::123456789012:policy/imgcap-ci-deploy-part"
    }
  }
}

variables {
  github_repository = "example-org/imgcap"
  state_bucket_arn  = "arn:aws:s3:::imgcap-tfstate-123456789012-eu-west-1"
  state_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "roles" {
  command = apply

  variables {
    environments = {
      dev  = {}
      prod = { promote_from = "dev", route53_zone_id = "Z0123456789ABCDEFGHIJ", model_bucket = "imgcap-models-123456789012" }
    }
  }

  # --- plan role ---
  assert {
    condition = alltrue([
      for s in jsondecode(output.plan_policy_json).Statement : alltrue([
        for a in flatten([s.Action]) : can(regex("^[a-z0-9-]+:(Get|List|Describe|Decrypt)[A-Za-z]*$", a))
      ]) if s.Sid != "SealPlans"
    ])
    error_message = "the plan role's own policy may only read (Get/List/Describe/Decrypt), besides sealing plans"
  }

  assert {
    condition = one([
      for s in jsondecode(output.plan_policy_json).Statement : s if s.Sid == "SealPlans"
      ]) == {
      Sid       = "SealPlans"
      Effect    = "Allow"
      Action    = "kms:GenerateDataKey"
      Resource  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      Condition = { StringEquals = { "kms:EncryptionContext:purpose" = "terraform-plan" } }
    }
    error_message = "the plan role may make data keys of the state key only to seal plans (scripts/seal-plan.sh)"
  }

  assert {
    condition     = jsondecode(output.plan_trust_json).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == ["repo:example-org/imgcap:pull_request", "repo:example-org/imgcap:ref:refs/heads/main", "repo:example-org/imgcap:ref:refs/tags/v*"]
    error_message = "the plan role must trust pull requests and the CD plan jobs (main, release tags) of this repository only"
  }

  assert {
    condition     = aws_iam_role.plan.max_session_duration == 3600 && aws_iam_role_policy_attachment.plan_read_only.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    error_message = "the plan role reads through ReadOnlyAccess with a one-hour session"
  }

  # --- deploy roles ---
  assert {
    condition     = jsondecode(output.deploy_trust_json["prod"]).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/imgcap:environment:prod"
    error_message = "the prod deploy role must trust only jobs in the GitHub environment prod"
  }

  assert {
    condition     = !can(jsondecode(output.deploy_trust_json["prod"]).Statement[0].Condition.StringLike)
    error_message = "the deploy role's trust must not use wildcards"
  }

  assert {
    condition = alltrue(flatten([
      for env, doc in output.deploy_policy_json : [
        for s in jsondecode(doc).Statement : [
          for a in flatten([s.Action]) : !startswith(a, "iam:") || !contains(flatten([s.Resource]), "*")
        ]
      ]
    ]))
    error_message = "no IAM action may apply to \"*\""
  }

  assert {
    condition = alltrue(flatten([
      for env, doc in output.deploy_policy_json : [
        for s in jsondecode(doc).Statement : [for a in flatten([s.Action]) : !strcontains(a, "*")]
      ]
    ]))
    error_message = "the deploy policies must not use wildcard actions (iam:* included)"
  }

  assert {
    condition = alltrue(flatten([
      for env, doc in output.deploy_policy_json : [
        for s in jsondecode(doc).Statement : [
          for r in flatten([s.Resource]) : startswith(r, "arn:aws:iam::123456789012:role/imgcap-${env}-")
        ] if s.Effect == "Allow" && contains(flatten([s.Action]), "iam:PassRole")
      ]
    ]))
    error_message = "iam:PassRole only for the environment's own roles"
  }

  assert {
    condition = alltrue([
      for env, doc in output.deploy_policy_json : alltrue([
        for s in jsondecode(doc).Statement : length(s.Condition.StringEquals["iam:PassedToService"]) > 0
        if s.Effect == "Allow" && contains(flatten([s.Action]), "iam:PassRole")
      ])
    ])
    error_message = "iam:PassRole needs an iam:PassedToService condition"
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(output.deploy_policy_json["dev"]).Statement : [
        for r in flatten([s.Resource]) : !strcontains(r, "imgcap-prod") && !strcontains(r, "imgcap/prod")
      ]
    ]))
    error_message = "the dev deploy role must not reach prod's resources or state"
  }

  assert {
    condition     = !contains([for s in jsondecode(output.deploy_policy_json["dev"]).Statement : s.Sid], "EcrPromoteSource") && !contains([for s in jsondecode(output.deploy_policy_json["dev"]).Statement : s.Sid], "Route53Records")
    error_message = "dev promotes from nowhere and has no hosted zone"
  }

  assert {
    condition     = one([for s in jsondecode(output.deploy_policy_json["prod"]).Statement : s.Resource if s.Sid == "EcrPromoteSource"]) == "arn:aws:ecr:eu-west-1:123456789012:repository/imgcap-dev-*"
    error_message = "prod may read dev's images (promotion by digest) and nothing else of dev"
  }

  assert {
    condition     = one([for s in jsondecode(output.deploy_policy_json["prod"]).Statement : s.Resource if s.Sid == "TerraformStateObjects"]) == "arn:aws:s3:::imgcap-tfstate-123456789012-eu-west-1/imgcap/prod/*"
    error_message = "a deploy role writes only its own environment's state (and lock file)"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : anytrue([
      for s in jsondecode(output.deploy_policy_json[env]).Statement :
      s.Effect == "Deny" && s.Resource == "arn:aws:iam::123456789012:role/imgcap-${env}-ci-*" && contains(flatten([s.Action]), "iam:PutRolePolicy") && contains(flatten([s.Action]), "iam:UpdateAssumeRolePolicy")
    ])])
    error_message = "a deploy role's imgcap-<env>-* role rights must not reach its own role (it could rewrite its policy or trust)"
  }

  assert {
    condition     = alltrue([for name, policy in output.deploy_policy_parts : length(policy) <= 6144])
    error_message = "IAM refuses a managed policy over 6,144 characters"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : jsonencode(flatten([
      for name in sort([for n in keys(output.deploy_policy_parts) : n if startswith(n, "${env}-")]) : jsondecode(output.deploy_policy_parts[name]).Statement
    ])) == jsonencode(jsondecode(output.deploy_policy_json[env]).Statement)])
    error_message = "the parts hold every statement of the policy, once, in order"
  }

  assert {
    condition     = length([for n in keys(output.deploy_policy_parts) : n if startswith(n, "prod-")]) + 1 <= 10
    error_message = "a role takes at most 10 managed policies (ReadOnlyAccess is one)"
  }

  assert {
    condition     = alltrue([for name, a in aws_iam_role_policy_attachment.deploy : a.role == "imgcap-${split("-", name)[0]}-ci-deploy"])
    error_message = "each part is attached to its own environment's deploy role"
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.deploy : r.max_session_duration == 7200])
    error_message = "deploy.yml asks for a 7200 s session; the roles must allow it"
  }

  # --- stack role boundaries ---
  assert {
    condition     = alltrue([for env in ["dev", "prod"] : module.role_boundary[env].name == "imgcap-${env}-role-boundary" && output.role_boundary_arns[env] == "arn:aws:iam::123456789012:policy/imgcap-${env}-role-boundary"])
    error_message = "each environment gets its boundary imgcap-<env>-role-boundary, whose ARN the env root passes as permissions_boundary"
  }

  assert {
    condition     = alltrue([for env, doc in output.role_boundary_json : length(doc) <= 6144])
    error_message = "IAM refuses a managed policy over 6,144 characters"
  }

  assert {
    condition = alltrue([for env, doc in output.role_boundary_json : alltrue([
      for service in ["iam", "sts", "organizations"] : anytrue([
        for s in jsondecode(doc).Statement : s.Effect == "Deny" && s.Resource == "*" && contains(flatten([s.Action]), "${service}:*")
      ])
    ])])
    error_message = "the boundary must deny every IAM, STS and Organizations action: no stack role may change identities or assume others"
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(output.role_boundary_json["dev"]).Statement : [
        for r in flatten([s.Resource]) : !strcontains(r, "imgcap-prod") && !strcontains(r, "imgcap/prod")
      ]
    ]))
    error_message = "dev's boundary must not reach prod's resources"
  }

  assert {
    condition     = one([for s in jsondecode(output.role_boundary_json["prod"]).Statement : s.Resource if s.Sid == "ModelArtifacts"]) == "arn:aws:s3:::imgcap-models-123456789012/*" && !contains([for s in jsondecode(output.role_boundary_json["dev"]).Statement : s.Sid], "ModelArtifacts")
    error_message = "model artifacts outside the environment's buckets only from the model_bucket named for it"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : alltrue([
      for a in ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"] : anytrue([
        for s in jsondecode(output.deploy_policy_json[env]).Statement : s.Effect == "Allow" && contains(flatten([s.Action]), a)
      ])
    ])])
    error_message = "the deploy role must still create and write the stack's roles (with the boundary)"
  }

  assert {
    condition = alltrue(flatten([for env in ["dev", "prod"] : [
      for s in jsondecode(output.deploy_policy_json[env]).Statement : s.Condition.StringEquals["iam:PermissionsBoundary"] == "arn:aws:iam::123456789012:policy/imgcap-${env}-role-boundary"
      if s.Effect == "Allow" && length(setintersection(flatten([s.Action]), ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"])) > 0
    ]]))
    error_message = "every statement that creates a role or writes its permissions must require exactly the environment's boundary (iam:PermissionsBoundary)"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : one([
      for s in jsondecode(output.deploy_policy_json[env]).Statement : s.Condition.StringEqualsIfExists["kms:EncryptionContext:environment"]
      if s.Sid == "TerraformStateKey"
    ]) == env])
    error_message = "a deploy role opens only its own environment's sealed plans (scripts/seal-plan.sh's encryption context)"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : !anytrue([
      for s in jsondecode(output.deploy_policy_json[env]).Statement : s.Effect == "Allow" && length(setintersection(flatten([s.Action]), ["iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRolePermissionsBoundary"])) > 0
    ])])
    error_message = "the stack attaches no managed policies: the deploy role may not attach or detach any, nor remove a boundary"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : anytrue([
      for s in jsondecode(output.deploy_policy_json[env]).Statement :
      s.Effect == "Deny" && s.Resource == "arn:aws:iam::123456789012:role/*" && contains(flatten([s.Action]), "iam:DeleteRolePermissionsBoundary")
    ])])
    error_message = "a deploy role must be denied iam:DeleteRolePermissionsBoundary on every role"
  }

  assert {
    condition = alltrue([for env in ["dev", "prod"] : anytrue([
      for s in jsondecode(output.deploy_policy_json[env]).Statement :
      s.Effect == "Deny" && s.Resource == output.role_boundary_arns[env] && contains(flatten([s.Action]), "iam:CreatePolicyVersion") && contains(flatten([s.Action]), "iam:SetDefaultPolicyVersion")
    ])])
    error_message = "a deploy role must never rewrite its environment's boundary"
  }
}

run "model_bucket_is_a_bucket_name" {
  command = plan

  variables {
    environments = {
      dev = { model_bucket = "s3://imgcap-models/captioner" }
    }
  }

  expect_failures = [var.environments]
}

run "promote_from_must_exist" {
  command = plan

  variables {
    environments = {
      prod = { promote_from = "staging" }
    }
  }

  expect_failures = [var.environments]
}

run "every_branch_is_not_a_plan_ref" {
  command = plan

  variables {
    plan_refs = ["refs/heads/*"]
  }

  expect_failures = [var.plan_refs]
}
