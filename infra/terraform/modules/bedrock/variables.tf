variable "model_id" {
  type        = string
  description = "Bedrock foundation model id the web app may call with Converse (must accept image input and on-demand inference), e.g. \"anthropic.claude-3-haiku-20240307-v1:0\". Model access must be enabled for the account in the Bedrock console."

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[A-Za-z0-9._:-]+$", var.model_id))
    error_message = "model_id must be a foundation model id such as anthropic.claude-3-haiku-20240307-v1:0 (not an ARN)."
  }
}
