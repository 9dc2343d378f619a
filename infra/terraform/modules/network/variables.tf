variable "name_prefix" {
  type        = string
  description = "Prefix for resource names, e.g. \"imgcap-prod\"."
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the VPC (a /16 to /24)."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /24."
  }
}

variable "az_count" {
  type        = number
  description = "Number of availability zones (public + private subnet in each)."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Names of the availability zones to use, e.g. [\"eu-west-1a\", \"eu-west-1b\"]; null: <region>a, <region>b, <region>c (set it in regions or accounts without those)."
  default     = null

  validation {
    condition     = var.availability_zones == null || length(coalesce(var.availability_zones, [])) >= 2
    error_message = "availability_zones must list at least two zones."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "Create NAT gateway(s) so tasks in private subnets reach the internet (Cognito token endpoint, Hugging Face). Off: the web tasks run in public subnets with a public IP instead."
  default     = false
}

variable "single_nat_gateway" {
  type        = bool
  description = "With NAT on: one NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  default     = true
}

variable "enable_interface_endpoints" {
  type        = bool
  description = "Create the interface VPC endpoints (ECR, SQS, Secrets Manager, SageMaker runtime, logs, monitoring, ...). About 7.3 USD per endpoint per AZ per month."
  default     = true
}

variable "interface_endpoint_services" {
  type        = list(string)
  description = "Service names (after com.amazonaws.<region>.) that get an interface endpoint."
  default     = ["ecr.api", "ecr.dkr", "sqs", "secretsmanager", "sagemaker.runtime", "logs", "monitoring"]
}

variable "extra_interface_endpoint_services" {
  type        = list(string)
  description = "Additional interface endpoint services, e.g. [\"bedrock-runtime\", \"rekognition\"] when those captioner features are on."
  default     = []
}

variable "flow_log_retention_days" {
  type        = number
  description = "Retention of the VPC flow log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the KMS key for the flow log group."
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
