variable "name_prefix" {
  type        = string
  description = "Path prefix of the secret names, e.g. \"imgcap/prod\" gives imgcap/prod/session-key."

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_+=.@-]{1,400}$", var.name_prefix)) && !endswith(var.name_prefix, "/")
    error_message = "name_prefix may contain letters, digits and /_+=.@- and must not end with '/'."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key that encrypts the secrets."
}

variable "create_hf_api_key_secret" {
  type        = bool
  description = "Create the (empty) Hugging Face Inference API key secret for the HF captioner fallback. Put its value with `aws secretsmanager put-secret-value`."
  default     = false
}

variable "recovery_window_in_days" {
  type        = number
  description = "Days a deleted secret can still be restored; 0 deletes at once (throw-away environments only)."
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the secrets."
  default     = {}
}
