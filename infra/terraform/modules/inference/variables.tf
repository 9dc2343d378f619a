variable "name_prefix" {
  type        = string
  description = "Prefix for names, e.g. \"imgcap-prod\". The endpoint is <name_prefix>-captioner unless endpoint_name is set."

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$", var.name_prefix))
    error_message = "name_prefix must be at most 41 letters, digits and hyphens (SageMaker names are limited to 63 characters)."
  }
}

variable "endpoint_name" {
  type        = string
  description = "Name of the SageMaker endpoint (IMGCAP_SAGEMAKER_ENDPOINT); null gives <name_prefix>-captioner."
  default     = null
}

variable "image_uri" {
  type        = string
  description = "Inference container image (imgcap-inference, SageMaker BYOC: `serve`, port 8080, /ping, /invocations), e.g. <account>.dkr.ecr.<region>.amazonaws.com/imgcap-prod-inference:<tag>."

  validation {
    condition     = can(regex("^[^\\s]+(:[A-Za-z0-9_.-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must carry an explicit tag or digest (the repositories use immutable tags)."
  }
}

variable "model_data_url" {
  type        = string
  description = "S3 URL of the model artifact (model.tar.gz with the weights and tokenizer), unpacked by SageMaker into /opt/ml/model."

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must look like s3://bucket/path/model.tar.gz."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the endpoint: ml.c6i.xlarge (CPU, default) or a GPU type such as ml.g5.xlarge. Changing it is the whole resize procedure."
  default     = "ml.c6i.xlarge"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[0-9]*x?large$", var.instance_type))
    error_message = "instance_type must be a SageMaker instance type such as ml.c6i.xlarge or ml.g5.xlarge."
  }
}

variable "instance_count" {
  type        = number
  description = "Initial number of instances (autoscaling then keeps it between min_instances and max_instances)."
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 20
    error_message = "instance_count must be between 1 and 20."
  }
}

variable "enable_autoscaling" {
  type        = bool
  description = "Target-tracking autoscaling on SageMakerVariantInvocationsPerInstance."
  default     = true
}

variable "min_instances" {
  type        = number
  description = "Lower autoscaling bound."
  default     = 1

  validation {
    condition     = var.min_instances >= 1
    error_message = "min_instances must be at least 1 (real-time endpoints cannot scale to zero)."
  }
}

variable "max_instances" {
  type        = number
  description = "Upper autoscaling bound."
  default     = 4

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 50
    error_message = "max_instances must be between 1 and 50."
  }
}

variable "target_invocations_per_instance" {
  type        = number
  description = "Target invocations per instance per minute for autoscaling (about 60 / seconds per request x concurrency)."
  default     = 60

  validation {
    condition     = var.target_invocations_per_instance > 0
    error_message = "target_invocations_per_instance must be positive."
  }
}

variable "resize_guard" {
  type        = bool
  description = "When the instance type changes and autoscaling is on, deregister the scalable target (AWS CLI, local-exec) before the endpoint update, as SageMaker requires, and register it again afterwards. Needs the aws CLI and credentials where terraform runs."
  default     = true
}

variable "enable_blue_green" {
  type        = bool
  description = "Blue/green endpoint updates with automatic rollback when the 5xx or latency alarm fires during the baking period."
  default     = true
}

variable "baking_period_seconds" {
  type        = number
  description = "How long the new (green) fleet takes all traffic while the rollback alarms are watched before the old fleet is removed."
  default     = 600

  validation {
    condition     = var.baking_period_seconds >= 0 && var.baking_period_seconds <= 3600
    error_message = "baking_period_seconds must be between 0 and 3600."
  }
}

variable "alarm_5xx_threshold" {
  type        = number
  description = "Invocation5XXErrors per minute that count as a failed endpoint (alarm and rollback)."
  default     = 5
}

variable "alarm_latency_ms" {
  type        = number
  description = "Average ModelLatency in milliseconds that counts as too slow (alarm and rollback)."
  default     = 10000
}

variable "alarm_actions" {
  type        = list(string)
  description = "SNS topic ARNs notified by the endpoint alarms."
  default     = []
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer-managed KMS key: endpoint storage volumes (instance types with EBS storage) and the endpoint log group."
}

variable "inference_repository_arn" {
  type        = string
  description = "ARN of the inference ECR repository (the SageMaker role may pull from it only)."
}

variable "environment" {
  type        = map(string)
  description = "Extra environment variables for the inference container (IMGCAP_*, HF_MODEL_ID, ...)."
  default     = {}
}

variable "enable_network_isolation" {
  type        = bool
  description = "Run the container without any network access (the model comes from model_data_url)."
  default     = true
}

variable "container_startup_timeout_seconds" {
  type        = number
  description = "How long SageMaker waits for /ping to answer 200 after the container starts (model load time)."
  default     = 600

  validation {
    condition     = var.container_startup_timeout_seconds >= 60 && var.container_startup_timeout_seconds <= 3600
    error_message = "container_startup_timeout_seconds must be between 60 and 3600."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the endpoint's CloudWatch log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags."
  default     = {}
}
