# bootstrap against a mocked AWS provider (no account, no network): the backend settings lock
# with S3's lock file, and with github_repository the pipeline roles come with the state bucket's
# and key's ARNs. Run: cd infra/terraform/bootstrap && terraform init -backend=false && terraform test

mock_provider "aws" {
  # Mocked ARNs during plan too: apply is impossible here (the state bucket has prevent_destroy,
  # which stops the test's clean-up).
  override_during = plan

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

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::imgcap-tfstate-123456789012-eu-west-1"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }
}

variables {
  aws_region = "eu-west-1"
}

run "state_only" {
  command = plan

  assert {
    condition     = strcontains(output.backend_hcl, "use_lockfile   = true") && !strcontains(output.backend_hcl, "dynamodb_table")
    error_message = "the backends lock with the S3 lock file, not the deprecated DynamoDB table"
  }

  assert {
    condition     = length(module.ci_roles) == 0 && output.plan_role_arn == null
    error_message = "without github_repository no pipeline roles are created"
  }
}

run "with_pipeline_roles" {
  command = plan

  variables {
    github_repository = "example-org/imgcap"
  }

  assert {
    condition     = toset(keys(module.ci_roles[0].deploy_trust_json)) == toset(["dev", "prod"])
    error_message = "one deploy role per environment"
  }

  assert {
    condition     = one([for s in jsondecode(module.ci_roles[0].deploy_policy_json["dev"]).Statement : s.Resource if s.Sid == "TerraformStateObjects"]) == "arn:aws:s3:::imgcap-tfstate-123456789012-eu-west-1/imgcap/dev/*"
    error_message = "the deploy role's state access must point at this bootstrap's bucket"
  }

  assert {
    condition     = one([for s in jsondecode(module.ci_roles[0].plan_policy_json).Statement : s.Resource if s.Sid == "TerraformStateKey"]) == "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    error_message = "the plan role decrypts the state with this bootstrap's key"
  }
}
