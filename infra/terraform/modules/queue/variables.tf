variable "name_prefix" {
  type        = string
  description = "Prefix for queue names: <name_prefix>-captions and <name_prefix>-captions-dlq."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,60}$", var.name_prefix))
    error_message = "name_prefix must be 1-60 letters, digits, '_' or '-'."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key for SQS server-side encryption."
}

variable "visibility_timeout_seconds" {
  type        = number
  description = "How long a received caption job stays invisible; must exceed the worker's worst-case time for one job."
  default     = 300

  validation {
    condition     = var.visibility_timeout_seconds >= 30 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 30 and 43200."
  }
}

variable "max_receive_count" {
  type        = number
  description = "Deliveries of one message before SQS moves it to the dead-letter queue."
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  type        = number
  description = "How long an unprocessed job stays in the main queue (default 4 days)."
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "enable_redrive_allow_policy" {
  type        = bool
  description = "Restrict which queues may use the DLQ (RedriveAllowPolicy byQueue). Only the emulator test turns this off: moto does not know the attribute."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the queues."
  default     = {}
}
