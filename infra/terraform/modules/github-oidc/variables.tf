variable "name_prefix" {
  type        = string
  description = "Prefix of the role name (<name_prefix>-github-deploy)."
}

variable "github_repository" {
  type        = string
  description = "GitHub repository allowed to assume the deploy role, as owner/name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_branch" {
  type        = string
  description = "Only workflow runs on this branch may assume the role."
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch)) && !can(regex("[*]", var.github_branch))
    error_message = "github_branch must be a plain branch name (no wildcards)."
  }
}

variable "github_environment" {
  type        = string
  description = "If set, the workflow job must also run in this GitHub environment (sub claim repo:<repo>:environment:<name>) instead of matching the branch."
  default     = null
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's token.actions.githubusercontent.com OIDC provider. False: it exists already (one per account) and is looked up."
  default     = true
}

variable "web_repository_arn" {
  type        = string
  description = "ARN of the web ECR repository."
}

variable "inference_repository_arn" {
  type        = string
  description = "ARN of the inference ECR repository."
}

variable "tags" {
  type        = map(string)
  description = "Extra tags."
  default     = {}
}

variable "permissions_boundary" {
  type        = string
  description = "ARN of the permissions boundary the module's roles carry (bootstrap output role_boundary_arns, imgcap-<env>-role-boundary); null: none."
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.permissions_boundary, "-")))
    error_message = "permissions_boundary must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<name>) or null."
  }
}
