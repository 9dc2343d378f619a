variable "template" {
  type        = string
  description = "File name of the policy template in docs/iam/, e.g. \"task-role.json\"."

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.json$", var.template))
    error_message = "template must be a file name like task-role.json (no directories)."
  }
}

variable "vars" {
  type        = map(string)
  description = "Values for the $${...} placeholders of the template. An empty string removes that entry from a Resource list."
}

variable "omit_statements" {
  type        = list(string)
  description = "Sids of statements to leave out (features that are switched off, e.g. BedrockConverse)."
  default     = []
}
