variable "name_prefix" {
  type        = string
  description = "Prefix for the dashboard, alarm and topic names, e.g. \"imgcap-prod\"."
}

variable "environment" {
  type        = string
  description = "Environment name; the app's metrics carry it as the Environment dimension."
}

variable "alarm_email" {
  type        = string
  description = "Email address subscribed to the alarm topic (confirm the subscription mail); null subscribes nobody."
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key for the SNS topic."
}

variable "alb_arn_suffix" {
  type        = string
  description = "ARN suffix of the ALB."
}

variable "target_group_arn_suffix" {
  type        = string
  description = "ARN suffix of the web target group."
}

variable "ecs_cluster_name" {
  type        = string
  description = "Name of the ECS cluster."
}

variable "ecs_service_name" {
  type        = string
  description = "Name of the ECS service."
}

variable "sagemaker_endpoint_name" {
  type        = string
  description = "Name of the SageMaker endpoint."
}

variable "sagemaker_variant_name" {
  type        = string
  description = "Name of the endpoint's production variant."
  default     = "primary"
}

variable "sagemaker_candidate_variant_name" {
  type        = string
  description = "Name of the candidate variant while a model is on trial (its figures next to the primary's on the dashboard); null: none."
  default     = null
}

variable "sagemaker_alarm_arns" {
  type        = list(string)
  description = "ARNs of the endpoint alarms created by the inference module (shown on the dashboard)."
  default     = []
}

variable "queue_name" {
  type        = string
  description = "Name of the caption queue."
}

variable "dlq_name" {
  type        = string
  description = "Name of the dead-letter queue."
}

variable "table_name" {
  type        = string
  description = "Name of the DynamoDB table."
}

variable "app_metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the app's own metrics."
  default     = "imgcap"
}

variable "error_rate_percent" {
  type        = number
  description = "ALB 5xx responses as a percentage of requests that raise the error-rate alarm."
  default     = 5

  validation {
    condition     = var.error_rate_percent > 0 && var.error_rate_percent <= 100
    error_message = "error_rate_percent must be in (0, 100]."
  }
}

variable "latency_p95_seconds" {
  type        = number
  description = "p95 target response time (seconds) that raises the latency alarm."
  default     = 3
}

variable "queue_age_seconds" {
  type        = number
  description = "Age of the oldest caption job (seconds) that raises the queue-age alarm."
  default     = 600
}

variable "caption_failures_per_15min" {
  type        = number
  description = "Failed caption jobs in 15 minutes (app metric CaptionFailed) that raise the alarm."
  default     = 5
}

variable "tags" {
  type        = map(string)
  description = "Extra tags."
  default     = {}
}
