variable "table_name" {
  type        = string
  description = "Name of the single DynamoDB table (IMGCAP_DYNAMODB_TABLE), e.g. \"imgcap-prod\"."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key for server-side encryption of the table."
}

variable "ttl_attribute" {
  type        = string
  description = "Name of the Number attribute (epoch seconds) after which DynamoDB deletes an item."
  default     = "expires_at"
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse DeleteTable while true. Turn off only for throw-away environments."
  default     = true
}

variable "point_in_time_recovery" {
  type        = bool
  description = "Keep continuous backups (35 days) for point-in-time restore."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the table."
  default     = {}
}
