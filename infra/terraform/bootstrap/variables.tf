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

variable "lock_table_name" {
  type        = string
  description = "Name of the DynamoDB state-lock table."
  default     = "imgcap-tf-locks"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.lock_table_name))
    error_message = "lock_table_name must be 3-255 characters of letters, digits, '_', '-' and '.'."
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
