variable "environment" {
  type        = string
  description = "Environment whose stack roles the boundary is for: the policy is imgcap-<environment>-role-boundary and scopes to imgcap-<environment>-* resources."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.environment))
    error_message = "environment must be a lower-case name such as dev."
  }
}

variable "model_bucket" {
  type        = string
  description = "Bucket of the stack's model_data_url when it is not one of the environment's own imgcap-<environment>-* buckets (the SageMaker role may then read objects there); null: none."
  default     = null

  validation {
    condition     = var.model_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.model_bucket, "-")))
    error_message = "model_bucket must be an S3 bucket name (no s3:// and no key)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the policy."
  default     = {}
}
