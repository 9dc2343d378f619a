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
    secret_id        = string
    authorize_scopes = optional(string)
    oidc_issuer      = optional(string)
    team_id          = optional(string)
    key_id           = optional(string)
  }))
  description = "Optional social/OIDC identity providers for the hosted UI, keyed by provider name. secret_id names the Secrets Manager secret with the client secret (Apple: the private key; team_id and key_id required); Terraform reads it, CD passes nothing."
  default     = {}
}

variable "ses_from_identity_arn" {
  type        = string
  description = "Verified SES identity (ARN) Cognito sends its email through; null: Cognito's default sender (about 50 emails a day)."
  default     = null
}

variable "ses_from_address" {
  type        = string
  description = "Sender address of Cognito's email through SES, e.g. \"imgcap <no-reply@example.com>\" (required for a domain identity)."
  default     = null
}

variable "create_cognito_test_user" {
  type        = bool
  description = "Create a confirmed Cognito user for scripts/acceptance.sh, its generated password in Secrets Manager (output cognito_test_user_secret_arn)."
  default     = false
}

variable "cognito_test_user_email" {
  type        = string
  description = "Email (username) of the acceptance-test user; null: acceptance-test@<domain_name>."
  default     = null
}

variable "test_user_password_version" {
  type        = number
  description = "Version of the generated test-user password; bump it for a new password."
  default     = 1

  validation {
    condition     = var.test_user_password_version >= 1 && floor(var.test_user_password_version) == var.test_user_password_version
    error_message = "test_user_password_version must be a positive whole number."
  }
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

variable "inference_candidate" {
  type = object({
    image_tag      = optional(string)
    model_data_url = optional(string)
    instance_type  = optional(string)
    instance_count = optional(number, 1)
    mode           = optional(string, "weighted")
    weight         = optional(number, 0.1)
  })
  description = "A model on trial next to the primary SageMaker variant (scripts/promote-model.sh writes it): image tag and/or model artifact (null: the primary's), instance type and count, mode \"weighted\" (answers `weight` of the requests) or \"shadow\" (gets a copy of `weight` of them). null: no candidate."
  default     = null
}

variable "inference_ami_version" {
  type        = string
  description = "SageMaker inference AMI on NVIDIA GPU instance types (al2-ami-sagemaker-inference-gpu-3-1: driver 550 / CUDA 12.4); CPU types keep the default AMI."
  default     = "al2-ami-sagemaker-inference-gpu-3-1"
}

variable "inference_instance_count" {
  type        = number
  description = "Initial SageMaker instance count. Unset: 2 in prod (SageMaker spreads a variant's instances over availability zones, so an AZ outage or an instance replaced in an update leaves it answering), 1 elsewhere."
  default     = null

  validation {
    condition     = var.inference_instance_count == null || try(var.inference_instance_count >= 1, false)
    error_message = "inference_instance_count must be at least 1."
  }
}

variable "inference_min_instances" {
  type        = number
  description = "Lower SageMaker autoscaling bound. Unset: 2 in prod, 1 elsewhere (as inference_instance_count)."
  default     = null

  validation {
    condition     = var.inference_min_instances == null || try(var.inference_min_instances >= 1, false)
    error_message = "inference_min_instances must be at least 1."
  }
}

variable "inference_max_instances" {
  type        = number
  description = "Upper SageMaker autoscaling bound."
  default     = 4
}

variable "inference_fault_injection" {
  type        = bool
  description = "Let requests that carry imgcap-fault=5xx or imgcap-fault=slow:<ms> in their SageMaker custom attributes fail or slow down on purpose (IMGCAP_FAULT_INJECTION), for scripts/fire-alarms.sh. Other requests are not affected. Keep it off in prod."
  default     = false
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

variable "enable_inference_tracing" {
  type        = bool
  description = "Send the inference container's spans to X-Ray's OTLP endpoint, signed with its execution role (the web app's spans come with enable_tracing; the trace joins them through SageMaker's custom attributes). Turns the container's network isolation off, and needs CloudWatch Transaction Search on in the account (RUNBOOK, Tracing)."
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

variable "enable_hf_captioner" {
  type        = bool
  description = "Add the Hugging Face Inference API to the deployed captioner chain; needs create_hf_api_key_secret and the token put in the secret before this apply."
  default     = false
}

variable "hf_model_id" {
  type        = string
  description = "Image-to-text model of the HF captioner; null: the web app's default."
  default     = null
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

variable "origin_verify_version" {
  type        = number
  description = "Version of the generated origin-verify header value (CloudFront only); bump it to roll the value."
  default     = 1

  validation {
    condition     = var.origin_verify_version >= 1 && floor(var.origin_verify_version) == var.origin_verify_version
    error_message = "origin_verify_version must be a positive whole number."
  }
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

variable "permissions_boundary" {
  type        = string
  description = "ARN of the permissions boundary every role of the stack carries: imgcap-<env>-role-boundary, bootstrap's output role_boundary_arns. The CI deploy role (imgcap-<env>-ci-deploy) may create and write roles only with exactly this boundary, so it must be set when that role applies. null: no boundary (accounts without the CI roles, the emulator)."
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.permissions_boundary, "-")))
    error_message = "permissions_boundary must be the ARN of an IAM managed policy (arn:aws:iam::<account>:policy/<name>) or null."
  }
}
