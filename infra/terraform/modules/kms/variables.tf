variable "name_prefix" {
  type        = string
  description = "Prefix for resource names, e.g. \"imgcap-prod\". Lower-case letters, digits and hyphens."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before the key is deleted after a destroy (7-30 days)."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "allow_cloudwatch_alarms" {
  type        = bool
  description = "Let CloudWatch alarms use the key, needed when the alarm SNS topic is encrypted with it."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the key."
  default     = {}
}
