variable "secret_id" {
  type        = string
  description = "ARN or name of the secret that receives the generated value."
}

variable "length" {
  type        = number
  description = "Number of characters to generate."
  default     = 64

  validation {
    condition     = var.length >= 32 && var.length <= 4096
    error_message = "length must be between 32 and 4096."
  }
}

variable "value_version" {
  type        = number
  description = "Bump to generate and store a new value."
  default     = 1
}

variable "include_punctuation" {
  type        = bool
  description = "Include punctuation characters (for passwords whose policy requires symbols); false: letters and digits only."
  default     = false
}
