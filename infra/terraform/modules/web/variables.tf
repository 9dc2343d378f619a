variable "name_prefix" {
  type        = string
  description = "Prefix for resource names, e.g. \"imgcap-prod\" (at most 24 characters: ALB and target group names are limited to 32)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 lower-case letters, digits and hyphens."
  }
}

variable "domain_name" {
  type        = string
  description = "Public host name of the app, e.g. imgcap.example.com. The app URL is https://<domain_name>/."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name such as imgcap.example.com."
  }
}

variable "route53_zone_id" {
  type        = string
  description = "Route 53 hosted zone of domain_name. Set: certificate validation records and the alias record are created. Null: create them yourself (see the acm_validation_records output)."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "ARN of an existing issued ACM certificate for domain_name in this region; null requests a new one (DNS validation)."
  default     = null
}

variable "vpc_id" {
  type        = string
  description = "Id of the VPC."
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC (egress to interface endpoints)."
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Public subnets for the ALB (and for the tasks when assign_public_ip is true)."

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "The ALB needs subnets in at least two availability zones."
  }
}

variable "task_subnet_ids" {
  type        = list(string)
  description = "Subnets of the Fargate tasks: the private subnets with NAT, the public subnets without."
}

variable "assign_public_ip" {
  type        = bool
  description = "Give tasks a public IP (needed without NAT: the app calls the Cognito token endpoint and JWKS, which have no VPC endpoint). Inbound traffic is still only allowed from the ALB."
  default     = true
}

variable "image_uri" {
  type        = string
  description = "Web app image (imgcap-web), with an explicit tag or digest."

  validation {
    condition     = can(regex("^[^\\s]+(:[A-Za-z0-9_.-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must carry an explicit tag or digest."
  }
}

variable "container_port" {
  type        = number
  description = "Port the web app listens on."
  default     = 8080
}

variable "container_user" {
  type        = string
  description = "uid:gid the container runs as (non-root)."
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[1-9][0-9]*(:[0-9]+)?$", var.container_user))
    error_message = "container_user must be a non-zero numeric uid, optionally with :gid."
  }
}

variable "health_check_path" {
  type        = string
  description = "HTTP path the ALB probes."
  default     = "/healthz"
}

variable "cpu" {
  type        = number
  description = "Fargate task CPU units."
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  type        = number
  description = "Fargate task memory in MiB (must fit the cpu size)."
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "cpu_architecture" {
  type        = string
  description = "X86_64 or ARM64 (the image must be built for it)."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  type        = number
  description = "Initial number of tasks."
  default     = 2
}

variable "min_tasks" {
  type        = number
  description = "Lower autoscaling bound."
  default     = 1

  validation {
    condition     = var.min_tasks >= 1
    error_message = "min_tasks must be at least 1."
  }
}

variable "max_tasks" {
  type        = number
  description = "Upper autoscaling bound."
  default     = 6

  validation {
    condition     = var.max_tasks >= 1 && var.max_tasks <= 100
    error_message = "max_tasks must be between 1 and 100."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Target average CPU utilisation for autoscaling."
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "requests_per_task_target" {
  type        = number
  description = "Target ALB requests per task per minute for autoscaling."
  default     = 600

  validation {
    condition     = var.requests_per_task_target > 0
    error_message = "requests_per_task_target must be positive."
  }
}

variable "environment" {
  type        = map(string)
  description = "Environment variables of the web container (IMGCAP_*, AWS_REGION); no secret values - secrets are read at start-up from Secrets Manager by ARN."
  default     = {}
}

variable "task_role_arn" {
  type        = string
  description = "ARN of the ECS task role."
}

variable "execution_role_arn" {
  type        = string
  description = "ARN of the ECS task execution role."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key for the log groups."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the app and WAF log groups."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "alb_log_bucket" {
  type        = string
  description = "Bucket for ALB access logs (modules/storage's log_bucket_name)."
}

variable "alb_log_prefix" {
  type        = string
  description = "Key prefix of the ALB access logs in alb_log_bucket: the one the bucket's policy lets ELB write to (modules/storage's alb_log_prefix)."
}

variable "ssl_policy" {
  type        = string
  description = "ALB TLS policy."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-1-2") || startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-1-3")
    error_message = "ssl_policy must be a TLS 1.2+/1.3 policy (ELBSecurityPolicy-TLS13-1-2-* or ELBSecurityPolicy-TLS13-1-3-*)."
  }
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Refuse deleting the ALB while true."
  default     = true
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests per 5 minutes from one IP address before WAF blocks it."
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 10 and 2000000000."
  }
}

variable "enable_cloudfront" {
  type        = bool
  description = "Put a CloudFront distribution in front of the ALB (needs route53_zone_id and cloudfront_certificate_arn)."
  default     = false
}

variable "cloudfront_certificate_arn" {
  type        = string
  description = "ARN of an issued ACM certificate for domain_name in us-east-1 (CloudFront requirement). Only with enable_cloudfront."
  default     = null

  validation {
    condition     = var.cloudfront_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+$", var.cloudfront_certificate_arn))
    error_message = "cloudfront_certificate_arn must be an ACM certificate ARN in us-east-1."
  }
}

variable "origin_verify_secret_arn" {
  type        = string
  description = "ARN of the Secrets Manager secret holding the origin-verify header value CloudFront adds and the ALB requires. Only with enable_cloudfront."
  default     = null
}

variable "origin_verify_version_id" {
  type        = string
  description = "Version id of the origin-verify secret's generated value (modules/generated-secret's version_id); a new version rolls the header on CloudFront and the ALB. Only with enable_cloudfront."
  default     = null
}

variable "edge_kms_key_arn" {
  type        = string
  description = "ARN of a KMS key in us-east-1 for the CloudFront web ACL's log group (log groups need a key in their own region). Only with enable_cloudfront."
  default     = null

  validation {
    condition     = var.edge_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:us-east-1:[0-9]{12}:key/.+$", var.edge_kms_key_arn))
    error_message = "edge_kms_key_arn must be a KMS key ARN in us-east-1."
  }
}

variable "enable_tracing" {
  type        = bool
  description = "Run an ADOT collector sidecar in the web task that sends the app's trace spans to AWS X-Ray, and point the app's OTLP export at it (OTEL_EXPORTER_OTLP_ENDPOINT). The task role needs the XRayTraces statement (modules/iam enable_tracing)."
  default     = false
}

variable "tracing_collector_image" {
  type        = string
  description = "Image of the ADOT collector sidecar (enable_tracing), pinned to a version."
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.0"

  validation {
    condition     = can(regex("^[^:]+(:[0-9A-Za-z._-]+|@sha256:[0-9a-f]{64})$", var.tracing_collector_image)) && !endswith(var.tracing_collector_image, ":latest")
    error_message = "tracing_collector_image must name a version tag or digest (not latest)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags."
  default     = {}
}
