variable "aws_region" {
  type        = string
  description = "AWS region of the deployment, e.g. eu-west-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "domain_name" {
  type        = string
  description = "Public host name of the app, e.g. imgcap.example.com."
}

variable "route53_zone_id" {
  type        = string
  description = "Route 53 hosted zone of domain_name; null: create the certificate-validation and alias records yourself."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "Existing issued ACM certificate for domain_name in aws_region; null requests a new one."
  default     = null
}

variable "extra_app_base_urls" {
  type        = list(string)
  description = "More base URLs allowed as Cognito callback/logout targets (e.g. http://localhost:8080 in dev)."
  default     = []
}

variable "cognito_domain_prefix" {
  type        = string
  description = "Cognito hosted-UI domain prefix (unique per region)."
}

variable "cognito_advanced_security_mode" {
  type        = string
  description = "Cognito threat protection: OFF, AUDIT or ENFORCED (the latter two use the PLUS plan)."
  default     = "ENFORCED"
}

variable "allow_self_signup" {
  type        = bool
  description = "Let people sign up on the hosted UI with their email address."
  default     = true
}

variable "social_identity_providers" {
  type = map(object({
    provider_type    = string
    client_id        = string
    authorize_scopes = optional(string, "openid email profile")
    oidc_issuer      = optional(string)
  }))
  description = "Optional social/OIDC identity providers for the hosted UI, keyed by provider name."
  default     = {}
}

variable "social_identity_provider_secrets" {
  type        = map(string)
  description = "Client secrets of the social identity providers; pass as TF_VAR_social_identity_provider_secrets, never commit."
  default     = {}
  sensitive   = true
}

variable "alarm_email" {
  type        = string
  description = "Email address that receives the alarms; null: nobody."
  default     = null
}

variable "web_image_tag" {
  type        = string
  description = "Tag of the imgcap-web image pushed to the web ECR repository."
}

variable "inference_image_tag" {
  type        = string
  description = "Tag of the imgcap-inference image pushed to the inference ECR repository."
}

variable "model_data_url" {
  type        = string
  description = "S3 URL of the captioning model artifact (model.tar.gz)."
}

variable "inference_instance_type" {
  type        = string
  description = "SageMaker instance type: ml.c6i.xlarge (CPU, default) or ml.g5.xlarge (GPU). The one variable to resize the endpoint."
  default     = "ml.c6i.xlarge"
}

variable "inference_instance_count" {
  type        = number
  description = "Initial SageMaker instance count."
  default     = 1
}

variable "inference_min_instances" {
  type        = number
  description = "Lower SageMaker autoscaling bound."
  default     = 1
}

variable "inference_max_instances" {
  type        = number
  description = "Upper SageMaker autoscaling bound."
  default     = 4
}

variable "web_cpu" {
  type        = number
  description = "Fargate CPU units per web task."
  default     = 512
}

variable "web_memory" {
  type        = number
  description = "Fargate memory (MiB) per web task."
  default     = 1024
}

variable "web_desired_count" {
  type        = number
  description = "Initial number of web tasks."
  default     = 2
}

variable "web_min_tasks" {
  type        = number
  description = "Lower web autoscaling bound."
  default     = 1
}

variable "web_max_tasks" {
  type        = number
  description = "Upper web autoscaling bound."
  default     = 6
}

variable "enable_nat_gateway" {
  type        = bool
  description = "NAT gateway for private subnets; false runs web tasks in public subnets with public IPs (inbound only from the ALB)."
  default     = false
}

variable "enable_interface_endpoints" {
  type        = bool
  description = "Interface VPC endpoints (about 7.3 USD per endpoint per AZ per month)."
  default     = true
}

variable "enable_bedrock" {
  type        = bool
  description = "Allow the Bedrock captioner on bedrock_model_id."
  default     = false
}

variable "bedrock_model_id" {
  type        = string
  description = "Bedrock foundation model id (image input, on-demand)."
  default     = "anthropic.claude-3-haiku-20240307-v1:0"
}

variable "enable_rekognition" {
  type        = bool
  description = "Allow rekognition:DetectLabels for optional labels."
  default     = false
}

variable "enable_tracing" {
  type        = bool
  description = "Send the web app's trace spans to AWS X-Ray through an ADOT collector sidecar in its task (and grant the task role xray:PutTraceSegments). Off: no sidecar, no export."
  default     = false
}

variable "session_key_version" {
  type        = number
  description = "Version of the generated session key; bump it to generate a new key (signs every user out)."
  default     = 1

  validation {
    condition     = var.session_key_version >= 1 && floor(var.session_key_version) == var.session_key_version
    error_message = "session_key_version must be a positive whole number."
  }
}

variable "create_hf_api_key_secret" {
  type        = bool
  description = "Create the Hugging Face API key secret (fallback captioner)."
  default     = false
}

variable "retention_days" {
  type        = number
  description = "Days images and records are kept."
  default     = 90
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the CloudWatch log groups (days; a value CloudWatch Logs accepts)."
  default     = 365
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection on the table, user pool and ALB; set false and apply before a destroy."
  default     = true
}

variable "allow_destroy_with_data" {
  type        = bool
  description = "Let terraform destroy delete buckets and ECR repositories with their contents; set true only right before a deliberate destroy."
  default     = false
}

variable "enable_cloudfront" {
  type        = bool
  description = "CloudFront in front of the ALB."
  default     = false
}

variable "cloudfront_certificate_arn" {
  type        = string
  description = "us-east-1 ACM certificate for domain_name (CloudFront only)."
  default     = null
}

variable "github_repository" {
  type        = string
  description = "owner/name of the repository whose CD workflow may deploy; null: no deploy role."
  default     = null
}

variable "github_branch" {
  type        = string
  description = "Branch whose workflow runs may deploy."
  default     = "main"
}

variable "github_environment" {
  type        = string
  description = "GitHub environment whose workflow jobs may assume the deploy role (token subject repo:<repo>:environment:<name>); null: jobs on github_branch without an environment. The CD workflow deploys in the environments dev and prod."
  default     = null
}

variable "create_github_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (false if it already exists, e.g. created by the other environment in the same account)."
  default     = true
}
