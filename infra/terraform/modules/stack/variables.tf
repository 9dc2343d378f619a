variable "environment" {
  type        = string
  description = "Environment name (dev, staging, prod, ...). Names become imgcap-<environment>-*."

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters and digits, starting with a letter."
  }
}

variable "domain_name" {
  type        = string
  description = "Public host name of the app, e.g. imgcap.example.com."
}

variable "route53_zone_id" {
  type        = string
  description = "Route 53 hosted zone for domain_name; null: create the DNS records yourself."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "Existing ACM certificate for domain_name in this region; null requests one."
  default     = null
}

variable "extra_app_base_urls" {
  type        = list(string)
  description = "More base URLs allowed as Cognito callback/logout targets, e.g. [\"http://localhost:8080\"] in dev."
  default     = []
}

variable "cognito_domain_prefix" {
  type        = string
  description = "Hosted-UI domain prefix: https://<prefix>.auth.<region>.amazoncognito.com (unique per region)."
}

variable "cognito_advanced_security_mode" {
  type        = string
  description = "Cognito threat protection: OFF, AUDIT or ENFORCED (AUDIT/ENFORCED select the PLUS feature plan)."
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
  description = "Optional social/OIDC identity providers for the hosted UI, keyed by provider name; each secret (client secret, Apple private key) is read from the Secrets Manager secret secret_id (see the auth module)."
  default     = {}
}

variable "ses_from_identity_arn" {
  type        = string
  description = "Verified SES identity (ARN) Cognito sends its email through; null: Cognito's default sender (about 50 emails a day)."
  default     = null
}

variable "ses_from_address" {
  type        = string
  description = "Sender address of Cognito's email through SES (required for a domain identity)."
  default     = null
}

variable "create_cognito_test_user" {
  type        = bool
  description = "Create a confirmed Cognito user for scripted acceptance tests, its password generated into a Secrets Manager secret. Off in production unless acceptance runs there."
  default     = false
}

variable "cognito_test_user_email" {
  type        = string
  description = "Email (username) of the acceptance-test user; null: acceptance-test@<domain_name>."
  default     = null
}

variable "cognito_test_user_password_version_id" {
  type        = string
  description = "Version id of the generated test-user password (modules/generated-secret in the root, on the cognito_test_user_secret_arn output). Required with create_cognito_test_user."
  default     = null
}

variable "alarm_email" {
  type        = string
  description = "Email subscribed to the alarm topic; null: nobody."
  default     = null
}

variable "web_image_tag" {
  type        = string
  description = "Tag of the imgcap-web image in the web ECR repository."
}

variable "inference_image_tag" {
  type        = string
  description = "Tag of the imgcap-inference image in the inference ECR repository."
}

variable "model_data_url" {
  type        = string
  description = "S3 URL of the model artifact (model.tar.gz) for the endpoint."
}

variable "inference_instance_type" {
  type        = string
  description = "SageMaker instance type: ml.c6i.xlarge (CPU) or ml.g5.xlarge (GPU). Changing it resizes the endpoint."
  default     = "ml.c6i.xlarge"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[0-9]*x?large$", var.inference_instance_type))
    error_message = "inference_instance_type must be a SageMaker instance type such as ml.c6i.xlarge or ml.g5.xlarge."
  }
}

variable "inference_resize_guard" {
  type        = bool
  description = "Deregister the endpoint from autoscaling (aws CLI, local-exec) before an instance-type change, as SageMaker requires. Needs the aws CLI where terraform runs."
  default     = true
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

variable "inference_target_invocations_per_instance" {
  type        = number
  description = "Autoscaling target: invocations per instance per minute."
  default     = 60
}

variable "inference_environment" {
  type        = map(string)
  description = "Extra environment variables for the inference container."
  default     = {}
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

variable "web_cpu_architecture" {
  type        = string
  description = "X86_64 or ARM64 for the web tasks."
  default     = "X86_64"
}

variable "extra_web_environment" {
  type        = map(string)
  description = "Additional IMGCAP_* settings for the web container (no secrets)."
  default     = {}
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC."
  default     = "10.40.0.0/16"
}

variable "enable_nat_gateway" {
  type        = bool
  description = "NAT for private subnets (web tasks then run without public IPs)."
  default     = false
}

variable "enable_interface_endpoints" {
  type        = bool
  description = "Interface VPC endpoints for ECR, SQS, Secrets Manager, SageMaker runtime, logs, monitoring."
  default     = true
}

variable "enable_bedrock" {
  type        = bool
  description = "Allow the Bedrock captioner (Converse on bedrock_model_id only)."
  default     = false
}

variable "bedrock_model_id" {
  type        = string
  description = "Bedrock foundation model id for the Bedrock captioner."
  default     = "anthropic.claude-3-haiku-20240307-v1:0"
}

variable "enable_rekognition" {
  type        = bool
  description = "Allow rekognition:DetectLabels for optional image labels."
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

variable "create_hf_api_key_secret" {
  type        = bool
  description = "Create the secret for the Hugging Face Inference API key (fallback captioner)."
  default     = false
}

variable "enable_hf_captioner" {
  type        = bool
  description = "Add the Hugging Face Inference API to the deployed captioner chain (after SageMaker and Bedrock). Needs create_hf_api_key_secret and a value put in that secret before the apply: the web app reads the token at start-up."
  default     = false

  validation {
    condition     = !var.enable_hf_captioner || var.create_hf_api_key_secret
    error_message = "enable_hf_captioner needs create_hf_api_key_secret = true (and the token put in the secret first)."
  }
}

variable "hf_model_id" {
  type        = string
  description = "Image-to-text model of the HF captioner (IMGCAP_CAPTIONER_HF_MODEL_ID); null: the web app's default."
  default     = null

  validation {
    condition     = var.hf_model_id == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", var.hf_model_id))
    error_message = "hf_model_id must be a Hugging Face model id such as Salesforce/blip-image-captioning-large."
  }
}

variable "retention_days" {
  type        = number
  description = "Days images and records are kept (S3 lifecycle, DynamoDB TTL, IMGCAP_RETENTION_DAYS)."
  default     = 90
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the CloudWatch log groups (days; a value CloudWatch Logs accepts)."
  default     = 365
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection on the table, user pool and ALB. Turn off (and apply) before destroying."
  default     = true
}

variable "allow_destroy_with_data" {
  type        = bool
  description = "Let terraform destroy delete the buckets and ECR repositories with their contents. Keep false; set true (with deletion_protection = false) and apply only right before a deliberate destroy."
  default     = false
}

variable "waf_rate_limit" {
  type        = number
  description = "WAF: requests per 5 minutes per IP."
  default     = 2000
}

variable "enable_cloudfront" {
  type        = bool
  description = "CloudFront in front of the ALB (needs route53_zone_id and cloudfront_certificate_arn)."
  default     = false
}

variable "cloudfront_certificate_arn" {
  type        = string
  description = "us-east-1 ACM certificate for domain_name, for CloudFront."
  default     = null
}

variable "origin_verify_version_id" {
  type        = string
  description = "Version id of the generated origin-verify header value (modules/generated-secret in the root, on the origin_verify_secret_arn output). Required with enable_cloudfront."
  default     = null
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository whose CD workflow may deploy; null: no deploy role."
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
  description = "Create the GitHub OIDC provider (false when the account already has one)."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource that takes them."
  default     = {}
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
