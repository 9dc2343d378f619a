variable "name_prefix" {
  type        = string
  description = "Prefix of the role names: <name_prefix>-web-task and <name_prefix>-web-execution."
}

variable "bucket_arn" {
  type        = string
  description = "ARN of the image bucket; the task role gets objects under originals/ and thumbnails/ only."
}

variable "table_arn" {
  type        = string
  description = "ARN of the DynamoDB table (and its indexes)."
}

variable "queue_arn" {
  type        = string
  description = "ARN of the caption queue."
}

variable "dlq_arn" {
  type        = string
  description = "ARN of the dead-letter queue (the app reads its depth for the admin page)."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key, usable only through S3, DynamoDB, SQS and Secrets Manager."
}

variable "session_key_secret_arn" {
  type        = string
  description = "ARN of the session-key secret."
}

variable "hf_api_key_secret_arn" {
  type        = string
  description = "ARN of the Hugging Face API key secret, or null when that captioner is not used."
  default     = null
}

variable "sagemaker_endpoint_arn" {
  type        = string
  description = "ARN of the SageMaker endpoint the app invokes."
}

variable "bedrock_model_arn" {
  type        = string
  description = "ARN of the one Bedrock foundation model the app may call (Converse), or null to grant no Bedrock access."
  default     = null
}

variable "enable_rekognition" {
  type        = bool
  description = "Grant rekognition:DetectLabels (optional image labels)."
  default     = false
}

variable "enable_tracing" {
  type        = bool
  description = "Grant xray:PutTraceSegments and xray:PutTelemetryRecords, for the ADOT collector sidecar of the web task (modules/web enable_tracing)."
  default     = false
}

variable "web_repository_arn" {
  type        = string
  description = "ARN of the web app's ECR repository (the execution role pulls from it)."
}

variable "web_log_group_arn" {
  type        = string
  description = "ARN of the web app's CloudWatch log group (the execution role writes to it)."
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the roles."
  default     = {}
}

variable "permissions_boundary" {
  type        = string
  description = "ARN of the permissions boundary the module's roles carry (bootstrap output role_boundary_arns, imgcap-<env>-role-boundary); null: none."
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.permissions_boundary, "-")))
    error_message = "permissions_boundary must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<name>) or null."
  }
}
