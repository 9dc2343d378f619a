variable "name_prefix" {
  type        = string
  description = "Prefix for resource names, e.g. \"imgcap-prod\". The buckets are named <name_prefix>-images-<account id> and <name_prefix>-logs-<account id> unless overridden."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  type        = string
  description = "Name of the image bucket; null derives <name_prefix>-images-<account id>."
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "log_bucket_name" {
  type        = string
  description = "Name of the access-log bucket; null derives <name_prefix>-logs-<account id>."
  default     = null

  validation {
    condition     = var.log_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.log_bucket_name))
    error_message = "log_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key used for SSE-KMS on the image bucket."
}

variable "retention_days" {
  type        = number
  description = "Days after which originals and thumbnails expire (matches the app's retention setting and the DynamoDB TTL)."
  default     = 90

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be between 1 and 3650."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days a deleted or overwritten object version is kept before it is removed for good."
  default     = 7

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 365
    error_message = "noncurrent_version_retention_days must be between 1 and 365."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days S3 server access logs and ALB access logs are kept in the log bucket."
  default     = 365

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650
    error_message = "log_retention_days must be between 1 and 3650."
  }
}

variable "cors_allowed_origins" {
  type        = list(string)
  description = "Origins allowed to GET objects through presigned URLs from scripts, e.g. [\"https://imgcap.example.com\"]. Empty list: no CORS rule."
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", o))])
    error_message = "Every CORS origin must be an https:// origin without a path, e.g. https://imgcap.example.com."
  }
}

variable "enable_alb_log_delivery" {
  type        = bool
  description = "Allow Elastic Load Balancing to write ALB access logs under alb/ in the log bucket."
  default     = true
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete non-empty buckets. Keep false outside throw-away environments."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the buckets."
  default     = {}
}
