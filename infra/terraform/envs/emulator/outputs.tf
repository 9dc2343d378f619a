# scripts/tf/emulator_verify.py reads these (terraform output -json) and checks the emulator's
# view of every resource against them. They are also what the web app's AWS-mode contract
# tests receive as IMGCAP_* settings.
output "region" {
  description = "Region of the emulated resources."
  value       = local.region
}

output "bucket_name" {
  description = "Image bucket (IMGCAP_S3_BUCKET)."
  value       = module.storage.bucket_name
}

output "log_bucket_name" {
  description = "Access-log bucket."
  value       = module.storage.log_bucket_name
}

output "kms_key_arn" {
  description = "Customer-managed key (IMGCAP_S3_KMS_KEY_ARN)."
  value       = module.kms.key_arn
}

output "table_name" {
  description = "DynamoDB table (IMGCAP_DYNAMODB_TABLE)."
  value       = module.data.table_name
}

output "jobs_index_name" {
  description = "Sparse GSI over job_state (IMGCAP_DYNAMODB_JOBS_INDEX)."
  value       = module.data.jobs_index_name
}

output "queue_url" {
  description = "Caption queue URL (IMGCAP_SQS_QUEUE_URL)."
  value       = module.queue.queue_url
}

output "queue_name" {
  description = "Caption queue name."
  value       = module.queue.queue_name
}

output "dlq_url" {
  description = "Dead-letter queue URL (IMGCAP_SQS_DLQ_URL)."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "Dead-letter queue ARN."
  value       = module.queue.dlq_arn
}

output "user_pool_id" {
  description = "Cognito user pool (part of IMGCAP_OIDC_ISSUER)."
  value       = module.auth.user_pool_id
}

output "user_pool_client_id" {
  description = "Cognito app client (IMGCAP_OIDC_CLIENT_ID)."
  value       = module.auth.client_id
}

output "cognito_domain_prefix" {
  description = "Hosted-UI domain prefix."
  value       = "imgcap-${var.environment}-test"
}

output "admin_group_name" {
  description = "Cognito admin group (IMGCAP_OIDC_ADMIN_GROUP)."
  value       = module.auth.admin_group_name
}

output "session_key_secret_arn" {
  description = "Session-key secret (IMGCAP_SESSION_KEY_SECRET_ARN)."
  value       = module.secrets.session_key_secret_arn
}

output "session_key_secret_name" {
  description = "Session-key secret name."
  value       = module.secrets.session_key_secret_name
}

output "cognito_test_user_secret_arn" {
  description = "Secret with the acceptance-test user's generated password."
  value       = module.secrets.cognito_test_user_secret_arn
}

output "cognito_test_user_name" {
  description = "Username (email) of the acceptance-test user."
  value       = module.auth.test_user_name
}

output "hf_api_key_secret_arn" {
  description = "HF API key secret (IMGCAP_HF_API_KEY_SECRET_ARN)."
  value       = module.secrets.hf_api_key_secret_arn
}

output "ecr_repository_names" {
  description = "ECR repositories (web, inference)."
  value       = module.registry.repository_names
}

output "sagemaker_endpoint_name" {
  description = "SageMaker endpoint (IMGCAP_SAGEMAKER_ENDPOINT)."
  value       = module.inference.endpoint_name
}

output "sagemaker_role_name" {
  description = "SageMaker execution role name."
  value       = split("/", module.inference.role_arn)[1]
}

output "task_role_name" {
  description = "ECS task role name."
  value       = module.iam.task_role_name
}

output "execution_role_name" {
  description = "ECS execution role name."
  value       = module.iam.execution_role_name
}

output "task_policy_json" {
  description = "Task role policy as rendered from docs/iam/task-role.json."
  value       = module.iam.task_policy_json
}

output "execution_policy_json" {
  description = "Execution role policy as rendered from docs/iam/execution-role.json."
  value       = module.iam.execution_policy_json
}

output "sagemaker_policy_json" {
  description = "SageMaker role policy as rendered from docs/iam/sagemaker-execution-role.json."
  value       = module.inference.role_policy_json
}

output "retention_days" {
  description = "Retention (days) of the S3 lifecycle rule (IMGCAP_RETENTION_DAYS)."
  value       = 90
}

output "web_environment" {
  description = "The web app's AWS-mode environment for these resources (scripts/test-infra.sh writes it to test-artifacts/infra/emulator.env for the contract tests)."
  value       = module.app_env.environment
}

output "role_boundary_arn" {
  description = "The environment's role boundary (modules/role-boundary)."
  value       = module.role_boundary.arn
}

output "role_permissions_boundaries" {
  description = "Each role applied here (name) and the boundary it carries."
  value       = merge(module.iam.role_permissions_boundaries, module.inference.role_permissions_boundaries)
}
