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
  description = "Instance type of the primary variant: ml.c6i.xlarge (CPU, default) or an NVIDIA GPU type such as ml.g5.xlarge, which needs the CUDA image (a tag ending in -cuda). Changing it is the whole resize procedure."
  default     = "ml.c6i.xlarge"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[0-9]*x?large$", var.instance_type))
    error_message = "instance_type must be a SageMaker instance type such as ml.c6i.xlarge or ml.g5.xlarge."
  }
}

variable "inference_ami_version" {
  type        = string
  description = "SageMaker inference AMI of variants on NVIDIA GPU types (ml.g*, ml.p*: g4dn, g5, g6, g6e, p3, p4d, p4de, p5); CPU types keep SageMaker's default. al2-ami-sagemaker-inference-gpu-3-1 has driver 550 / CUDA 12.4, which the CUDA image needs (without an AMI version SageMaker runs driver 470 / CUDA 11.4 on these types)."
  default     = "al2-ami-sagemaker-inference-gpu-3-1"

  validation {
    condition     = contains(["al2-ami-sagemaker-inference-gpu-2", "al2-ami-sagemaker-inference-gpu-2-1", "al2-ami-sagemaker-inference-gpu-3-1"], var.inference_ami_version)
    error_message = "inference_ami_version must be a GPU inference AMI: al2-ami-sagemaker-inference-gpu-3-1 (driver 550, CUDA 12.4), al2-ami-sagemaker-inference-gpu-2-1 or al2-ami-sagemaker-inference-gpu-2 (driver 535, CUDA 12.2)."
  }
}

variable "candidate" {
  type = object({
    image_uri      = optional(string)
    model_data_url = optional(string)
    instance_type  = optional(string)
    instance_count = optional(number, 1)
    mode           = optional(string, "weighted")
    weight         = optional(number, 0.1)
  })
  description = "A second model on trial next to the primary variant (scripts/promote-model.sh): its image and/or model artifact (null: the primary's), instance type (null: the primary's) and count, and mode: \"weighted\" answers `weight` (0-1) of the requests, \"shadow\" receives a copy of `weight` of them and its answers are dropped. null: no candidate."
  default     = null

  validation {
    condition     = var.candidate == null || contains(["weighted", "shadow"], try(var.candidate.mode, ""))
    error_message = "candidate.mode must be \"weighted\" or \"shadow\"."
  }
  validation {
    condition     = var.candidate == null || try(var.candidate.weight > 0 && var.candidate.weight < 1 || var.candidate.mode == "shadow" && var.candidate.weight == 1, false)
    error_message = "candidate.weight must be between 0 and 1 (exclusive; a shadow variant may take 1, a copy of every request)."
  }
  validation {
    condition     = var.candidate == null || try(var.candidate.instance_count >= 1 && var.candidate.instance_count <= 20, false)
    error_message = "candidate.instance_count must be between 1 and 20."
  }
  validation {
    condition     = var.candidate == null || try(var.candidate.image_uri == null || can(regex("^[^\\s]+(:[A-Za-z0-9_.-]+|@sha256:[a-f0-9]{64})$", var.candidate.image_uri)), false)
    error_message = "candidate.image_uri must carry an explicit tag or digest."
  }
  validation {
    condition     = var.candidate == null || try(var.candidate.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.candidate.model_data_url)), false)
    error_message = "candidate.model_data_url must look like s3://bucket/path/model.tar.gz."
  }
  validation {
    condition     = var.candidate == null || try(var.candidate.instance_type == null || can(regex("^ml\\.[a-z0-9]+\\.[0-9]*x?large$", var.candidate.instance_type)), false)
    error_message = "candidate.instance_type must be a SageMaker instance type such as ml.c6i.xlarge or ml.g5.xlarge."
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
  description = "p95 ModelLatency (per minute, per variant) in milliseconds that counts as too slow (alarm and rollback)."
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

variable "enable_tracing" {
  type        = bool
  description = "Send the container's trace spans to X-Ray's OTLP endpoint (SigV4-signed with the execution role, which gets xray:PutTraceSegments). Needs enable_network_isolation = false and CloudWatch Transaction Search on in the account (RUNBOOK)."
  default     = false
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

variable "permissions_boundary" {
  type        = string
  description = "ARN of the permissions boundary the module's roles carry (bootstrap output role_boundary_arns, imgcap-<env>-role-boundary); null: none."
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.permissions_boundary, "-")))
    error_message = "permissions_boundary must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<name>) or null."
  }
}
