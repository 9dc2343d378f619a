variable "create" {
  type        = bool
  description = "Create the token.actions.githubusercontent.com provider. False: it exists already (one per account) and is looked up."
}

variable "tags" {
  type        = map(string)
  description = "Tags of a created provider."
  default     = {}
}
