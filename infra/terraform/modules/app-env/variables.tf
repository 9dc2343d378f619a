variable "values" {
  type = object({
    environment            = string
    region                 = string
    public_base_url        = optional(string)
    retention_days         = number
    bucket_name            = string
    kms_key_arn            = string
    table_name             = string
    jobs_index_name        = string
    queue_url              = string
    dlq_url                = string
    sagemaker_endpoint     = string
    cognito_user_pool_id   = string
    cognito_client_id      = string
    cognito_domain         = optional(string)
    cognito_issuer         = string
    cognito_admin_group    = string
    session_key_secret_arn = string
    hf_api_key_secret_arn  = optional(string)
    bedrock_model_id       = optional(string)
    hf_captioner           = optional(bool, false)
    hf_model_id            = optional(string)
    rekognition_labels     = bool
    metrics_namespace      = string
  })
  description = "The deployed resources the web app needs; null optional values leave their variable out. hf_captioner adds the Hugging Face Inference API to the chain (it needs hf_api_key_secret_arn); hf_model_id overrides the app's default HF model."

  validation {
    condition     = !var.values.hf_captioner || var.values.hf_api_key_secret_arn != null
    error_message = "hf_captioner needs hf_api_key_secret_arn: the HF provider reads its token from that secret."
  }
}

variable "extra" {
  type        = map(string)
  description = "More environment variables (they override the generated ones)."
  default     = {}
}
