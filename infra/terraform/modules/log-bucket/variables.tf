variable "bucket_name" {
  type        = string
  description = "Name of the access-log bucket."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "source_bucket_names" {
  type        = list(string)
  description = "Buckets whose S3 server access logs are delivered here, each under s3-access/<bucket>/ (see the s3_access_log_prefixes output); the policy lets S3 log delivery write nowhere else."

  validation {
    condition     = length(var.source_bucket_names) > 0
    error_message = "source_bucket_names must name at least one bucket."
  }
}

variable "retention_days" {
  type        = number
  description = "Days S3 server access logs (and ALB access logs) are kept."
  default     = 365

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be between 1 and 3650."
  }
}

variable "enable_alb_log_delivery" {
  type        = bool
  description = "Allow Elastic Load Balancing to write ALB access logs under alb/ (the alb_log_prefix output)."
  default     = false
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete the bucket while it still holds logs. Keep false outside throw-away environments."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the bucket."
  default     = {}
}
