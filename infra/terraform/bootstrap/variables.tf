variable "aws_region" {
  type        = string
  description = "Region of the state bucket and lock table (normally the deployment region)."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Name of the state bucket; null derives imgcap-tfstate-<account id>-<region>."
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "noncurrent_state_version_days" {
  type        = number
  description = "Days old state versions are kept (for recovering from a bad apply)."
  default     = 90

  validation {
    condition     = var.noncurrent_state_version_days >= 1
    error_message = "noncurrent_state_version_days must be at least 1."
  }
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflows get the plan and deploy roles (modules/ci-roles); null creates no roles."
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", coalesce(var.github_repository, "-")))
    error_message = "github_repository must look like owner/name."
  }
}

variable "ci_environments" {
  type = map(object({
    promote_from    = optional(string)
    route53_zone_id = optional(string)
    model_bucket    = optional(string)
  }))
  description = "Environments that get a deploy role and a stack role boundary, see modules/ci-roles variable environments (prod promotes dev's images by digest; model_bucket: where model_data_url points, if not an imgcap-<env>-* bucket)."
  default = {
    dev  = {}
    prod = { promote_from = "dev" }
  }
}

variable "create_github_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider here (then set create_github_oidc_provider = false in envs/<env>); false: it exists already and is looked up."
  default     = true
}
