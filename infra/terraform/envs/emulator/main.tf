# The modules the AWS emulator (moto) supports, wired as modules/stack wires them: kms, storage,
# data, queue, auth (with the acceptance-test user), secrets + generated-secret (session key,
# test-user password), registry, inference, iam (its roles and the SageMaker role carry the
# environment's role-boundary, as in an account with the CI roles), app-env.
# Emulator-only switches (README_infra.md, "Tests"), everything else as in production:
#   - deletion protection off, force_destroy / force_delete on, secrets recovery window 0,
#     so that terraform destroy can clean up;
#   - Cognito threat protection OFF and no explicit feature plan (moto knows neither);
#   - the DLQ's RedriveAllowPolicy off (moto does not know the attribute);
#   - the endpoint on ml.c5.xlarge: moto's instance-type enum predates ml.c6i / ml.g5;
#   - no Application Auto Scaling target/policy for the endpoint (moto lacks its
#     ListTagsForResource, so the provider cannot read the target back), resize guard off.
# Not applied here (moto cannot take them, or they need real AWS): network, web (ECS, ALB, ACM,
# WAF, Route 53, CloudFront), bedrock (foundation model lookup), github-oidc, monitoring; the
# terraform test in modules/stack covers them against a mocked provider.
data "aws_region" "current" {}

locals {
  name_prefix   = "imgcap-${var.environment}"
  region        = data.aws_region.current.name
  endpoint_name = "${local.name_prefix}-captioner"
  tags          = { Environment = var.environment }
}

module "kms" {
  source                  = "../../modules/kms"
  name_prefix             = local.name_prefix
  deletion_window_in_days = 7
  tags                    = local.tags
}

module "storage" {
  source               = "../../modules/storage"
  name_prefix          = local.name_prefix
  kms_key_arn          = module.kms.key_arn
  cors_allowed_origins = ["https://imgcap.emulator.test"]
  force_destroy        = true
  tags                 = local.tags
}

module "data" {
  source              = "../../modules/data"
  table_name          = local.name_prefix
  kms_key_arn         = module.kms.key_arn
  deletion_protection = false
  tags                = local.tags
}

module "queue" {
  source                      = "../../modules/queue"
  name_prefix                 = local.name_prefix
  kms_key_arn                 = module.kms.key_arn
  enable_redrive_allow_policy = false
  tags                        = local.tags
}

module "auth" {
  source                 = "../../modules/auth"
  name_prefix            = local.name_prefix
  domain_prefix          = "imgcap-${var.environment}-test"
  app_base_urls          = ["https://imgcap.emulator.test", "http://localhost:8080"]
  advanced_security_mode = "OFF"
  set_feature_plan       = false
  deletion_protection    = false
  test_user = {
    email               = "acceptance-test@imgcap.emulator.test"
    password_secret_arn = module.secrets.cognito_test_user_secret_arn
    password_version_id = module.test_user_password.version_id
  }
  tags = local.tags
}

module "secrets" {
  source                          = "../../modules/secrets"
  name_prefix                     = "imgcap/${var.environment}"
  kms_key_arn                     = module.kms.key_arn
  create_hf_api_key_secret        = true
  create_cognito_test_user_secret = true
  recovery_window_in_days         = 0
  tags                            = local.tags
}

module "session_key_value" {
  source    = "../../modules/generated-secret"
  secret_id = module.secrets.session_key_secret_arn
  length    = 64
}

module "test_user_password" {
  source              = "../../modules/generated-secret"
  secret_id           = module.secrets.cognito_test_user_secret_arn
  length              = 32
  include_punctuation = true
}

module "registry" {
  source       = "../../modules/registry"
  name_prefix  = local.name_prefix
  kms_key_arn  = module.kms.key_arn
  force_delete = true
  tags         = local.tags
}

module "role_boundary" {
  source      = "../../modules/role-boundary"
  environment = var.environment
  tags        = local.tags
}

module "inference" {
  source                   = "../../modules/inference"
  name_prefix              = local.name_prefix
  endpoint_name            = local.endpoint_name
  image_uri                = "${module.registry.repository_urls["inference"]}:emulator"
  model_data_url           = "s3://${module.storage.bucket_name}/models/captioner/model.tar.gz"
  instance_type            = var.inference_instance_type
  kms_key_arn              = module.kms.key_arn
  inference_repository_arn = module.registry.repository_arns["inference"]
  enable_autoscaling       = var.enable_inference_autoscaling
  enable_blue_green        = var.enable_inference_blue_green
  resize_guard             = false
  permissions_boundary     = module.role_boundary.arn
  tags                     = local.tags
}

module "iam" {
  source                 = "../../modules/iam"
  name_prefix            = local.name_prefix
  bucket_arn             = module.storage.bucket_arn
  table_arn              = module.data.table_arn
  queue_arn              = module.queue.queue_arn
  dlq_arn                = module.queue.dlq_arn
  kms_key_arn            = module.kms.key_arn
  session_key_secret_arn = module.secrets.session_key_secret_arn
  hf_api_key_secret_arn  = module.secrets.hf_api_key_secret_arn
  sagemaker_endpoint_arn = module.inference.endpoint_arn
  enable_rekognition     = true
  web_repository_arn     = module.registry.repository_arns["web"]
  web_log_group_arn      = "arn:aws:logs:${local.region}:123456789012:log-group:/ecs/${local.name_prefix}-web"
  permissions_boundary   = module.role_boundary.arn
  tags                   = local.tags
}

# The web app's AWS-mode settings for these resources, from the same module that fills the ECS
# task definition in modules/stack - so the contract tests use exactly the production names.
module "app_env" {
  source = "../../modules/app-env"
  values = {
    environment            = var.environment
    region                 = local.region
    public_base_url        = "https://imgcap.emulator.test"
    retention_days         = 90
    bucket_name            = module.storage.bucket_name
    kms_key_arn            = module.kms.key_arn
    table_name             = module.data.table_name
    jobs_index_name        = module.data.jobs_index_name
    queue_url              = module.queue.queue_url
    dlq_url                = module.queue.dlq_url
    sagemaker_endpoint     = module.inference.endpoint_name
    cognito_user_pool_id   = module.auth.user_pool_id
    cognito_client_id      = module.auth.client_id
    cognito_domain         = module.auth.hosted_ui_base_url
    cognito_issuer         = module.auth.issuer_url
    cognito_admin_group    = module.auth.admin_group_name
    session_key_secret_arn = module.secrets.session_key_secret_arn
    hf_api_key_secret_arn  = module.secrets.hf_api_key_secret_arn
    bedrock_model_id       = null
    rekognition_labels     = true
    metrics_namespace      = "imgcap"
  }
}
