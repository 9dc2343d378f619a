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
    rekognition_labels     = bool
    metrics_namespace      = string
  })
  description = "The deployed resources the web app needs; null optional values leave their variable out."
}

variable "extra" {
  type        = map(string)
  description = "More environment variables (they override the generated ones)."
  default     = {}
}
