variable "github_repository" {
  type        = string
  description = "GitHub repository whose workflows may assume the roles, as owner/name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the plan role's name (<name_prefix>-ci-plan)."
  default     = "imgcap"

  validation {
    condition     = can(regex("^[a-z0-9]+(-[a-z0-9]+)*$", var.name_prefix))
    error_message = "name_prefix must be lower-case letters and digits separated by '-'."
  }
}

variable "environments" {
  type = map(object({
    promote_from    = optional(string)
    route53_zone_id = optional(string)
    model_bucket    = optional(string)
  }))
  description = "One deploy role and one stack role boundary per environment (imgcap-<env>-ci-deploy, imgcap-<env>-role-boundary). promote_from: the environment whose ECR images this one copies by digest (prod promotes from dev); route53_zone_id: the hosted zone the stack writes records in (its route53_zone_id), if any; model_bucket: the bucket of the stack's model_data_url when it is not one of the environment's own imgcap-<env>-* buckets (the boundary lets the SageMaker role read objects there)."
  default = {
    dev  = {}
    prod = { promote_from = "dev" }
  }

  validation {
    condition     = alltrue([for k, v in var.environments : can(regex("^[a-z][a-z0-9-]*$", k)) && (v.promote_from == null || contains(keys(var.environments), coalesce(v.promote_from, "-")))])
    error_message = "environment names must be lower-case names, and promote_from must name another of the environments."
  }

  validation {
    condition     = alltrue([for v in values(var.environments) : v.route53_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", coalesce(v.route53_zone_id, "-")))])
    error_message = "route53_zone_id must be a hosted zone id such as Z0123456789ABCDEFGHIJ."
  }

  validation {
    condition     = alltrue([for v in values(var.environments) : v.model_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(v.model_bucket, "-")))])
    error_message = "model_bucket must be an S3 bucket name (no s3:// and no key)."
  }
}

variable "plan_refs" {
  type        = list(string)
  description = "Git refs (besides pull requests) whose workflow runs may assume the plan role: the CD plan jobs run on release tags and on main. Wildcards are allowed (StringLike)."
  default     = ["refs/heads/main", "refs/tags/v*"]

  validation {
    condition     = alltrue([for r in var.plan_refs : can(regex("^refs/(heads|tags)/[A-Za-z0-9._/*-]+$", r)) && r != "refs/heads/*" && r != "refs/tags/*"])
    error_message = "plan_refs must be refs/heads/<name> or refs/tags/<pattern>, not every branch or tag."
  }
}

variable "state_bucket_arn" {
  type        = string
  description = "ARN of the Terraform state bucket (state keys imgcap/<env>/terraform.tfstate and their .tflock files)."

  validation {
    condition     = can(regex("^arn:[a-z-]+:s3:::[a-z0-9.-]+$", var.state_bucket_arn))
    error_message = "state_bucket_arn must be an S3 bucket ARN."
  }
}

variable "state_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key that encrypts the state."

  validation {
    condition     = can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.state_kms_key_arn))
    error_message = "state_kms_key_arn must be a KMS key ARN (not an alias)."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's token.actions.githubusercontent.com OIDC provider. False: it exists already (one per account) and is looked up."
  default     = true
}

variable "plan_session_seconds" {
  type        = number
  description = "Longest session of the plan role (max_session_duration); a plan takes minutes."
  default     = 3600

  validation {
    condition     = var.plan_session_seconds >= 3600 && var.plan_session_seconds <= 43200
    error_message = "plan_session_seconds must be between 3600 and 43200."
  }
}

variable "deploy_session_seconds" {
  type        = number
  description = "Longest session of the deploy roles (max_session_duration). The CD apply job asks for 7200 s: apply, the SageMaker blue/green update with its 10-minute bake, the ECS rollout, the smoke test and a possible rollback apply can exceed one hour."
  default     = 7200

  validation {
    condition     = var.deploy_session_seconds >= 7200 && var.deploy_session_seconds <= 43200
    error_message = "deploy_session_seconds must be between 7200 (what .github/workflows/deploy.yml requests) and 43200."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the roles and the OIDC provider."
  default     = {}
}
