# The whole imgcap deployment for one environment. envs/dev and envs/prod are thin roots around
# this module; envs/emulator applies the emulator-compatible modules directly.
data "aws_region" "current" {}

locals {
  name_prefix       = "imgcap-${var.environment}"
  region            = data.aws_region.current.name
  app_base_url      = "https://${var.domain_name}"
  metrics_namespace = "imgcap"
  tags              = merge({ Environment = var.environment }, var.tags)
  endpoint_name     = "${local.name_prefix}-captioner"

  # The web app's configuration. Names are the contract with webapp/ (see README_infra.md).
  web_environment = { for k, v in merge(
    {
      IMGCAP_MODE                   = "aws"
      AWS_REGION                    = local.region
      IMGCAP_ENVIRONMENT            = var.environment
      IMGCAP_LISTEN_ADDR            = "0.0.0.0:8080"
      IMGCAP_PUBLIC_BASE_URL        = local.app_base_url
      IMGCAP_LOG_FORMAT             = "json"
      IMGCAP_RETENTION_DAYS         = tostring(var.retention_days)
      IMGCAP_S3_BUCKET              = module.storage.bucket_name
      IMGCAP_S3_KMS_KEY_ARN         = module.kms.key_arn
      IMGCAP_DYNAMODB_TABLE         = module.data.table_name
      IMGCAP_DYNAMODB_JOBS_INDEX    = module.data.jobs_index_name
      IMGCAP_SQS_QUEUE_URL          = module.queue.queue_url
      IMGCAP_SQS_DLQ_URL            = module.queue.dlq_url
      IMGCAP_SAGEMAKER_ENDPOINT     = module.inference.endpoint_name
      IMGCAP_COGNITO_USER_POOL_ID   = module.auth.user_pool_id
      IMGCAP_COGNITO_CLIENT_ID      = module.auth.client_id
      IMGCAP_COGNITO_DOMAIN         = module.auth.hosted_ui_base_url
      IMGCAP_COGNITO_ISSUER         = module.auth.issuer_url
      IMGCAP_COGNITO_ADMIN_GROUP    = module.auth.admin_group_name
      IMGCAP_SESSION_KEY_SECRET_ARN = module.secrets.session_key_secret_arn
      IMGCAP_HF_API_KEY_SECRET_ARN  = module.secrets.hf_api_key_secret_arn
      IMGCAP_BEDROCK_MODEL_ID       = var.enable_bedrock ? module.bedrock[0].model_id : null
      IMGCAP_REKOGNITION_LABELS     = tostring(var.enable_rekognition)
      IMGCAP_CLOUDWATCH_NAMESPACE   = local.metrics_namespace
      TMPDIR                        = "/tmp"
    },
    var.extra_web_environment,
  ) : k => v if v != null }
}

module "kms" {
  source      = "../kms"
  name_prefix = local.name_prefix
  tags        = local.tags
}

module "network" {
  source                     = "../network"
  name_prefix                = local.name_prefix
  vpc_cidr                   = var.vpc_cidr
  enable_nat_gateway         = var.enable_nat_gateway
  enable_interface_endpoints = var.enable_interface_endpoints
  extra_interface_endpoint_services = concat(
    var.enable_bedrock ? ["bedrock-runtime"] : [],
    var.enable_rekognition ? ["rekognition"] : [],
  )
  kms_key_arn             = module.kms.key_arn
  flow_log_retention_days = var.log_retention_days
  tags                    = local.tags
}

module "storage" {
  source               = "../storage"
  name_prefix          = local.name_prefix
  kms_key_arn          = module.kms.key_arn
  retention_days       = var.retention_days
  cors_allowed_origins = [local.app_base_url]
  tags                 = local.tags
}

module "data" {
  source              = "../data"
  table_name          = local.name_prefix
  kms_key_arn         = module.kms.key_arn
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "queue" {
  source      = "../queue"
  name_prefix = local.name_prefix
  kms_key_arn = module.kms.key_arn
  tags        = local.tags
}

module "auth" {
  source                           = "../auth"
  name_prefix                      = local.name_prefix
  domain_prefix                    = var.cognito_domain_prefix
  app_base_urls                    = concat([local.app_base_url], var.extra_app_base_urls)
  allow_self_signup                = var.allow_self_signup
  advanced_security_mode           = var.cognito_advanced_security_mode
  deletion_protection              = var.deletion_protection
  social_identity_providers        = var.social_identity_providers
  social_identity_provider_secrets = var.social_identity_provider_secrets
  tags                             = local.tags
}

module "secrets" {
  source                   = "../secrets"
  name_prefix              = "imgcap/${var.environment}"
  kms_key_arn              = module.kms.key_arn
  create_hf_api_key_secret = var.create_hf_api_key_secret
  tags                     = local.tags
}

module "registry" {
  source      = "../registry"
  name_prefix = local.name_prefix
  kms_key_arn = module.kms.key_arn
  tags        = local.tags
}

module "bedrock" {
  count    = var.enable_bedrock ? 1 : 0
  source   = "../bedrock"
  model_id = var.bedrock_model_id
}

module "monitoring" {
  source                  = "../monitoring"
  name_prefix             = local.name_prefix
  environment             = var.environment
  alarm_email             = var.alarm_email
  kms_key_arn             = module.kms.key_arn
  alb_arn_suffix          = module.web.alb_arn_suffix
  target_group_arn_suffix = module.web.target_group_arn_suffix
  ecs_cluster_name        = module.web.cluster_name
  ecs_service_name        = module.web.service_name
  sagemaker_endpoint_name = local.endpoint_name
  sagemaker_variant_name  = module.inference.variant_name
  sagemaker_alarm_arns    = module.inference.alarm_arns
  queue_name              = module.queue.queue_name
  dlq_name                = module.queue.dlq_name
  table_name              = module.data.table_name
  app_metrics_namespace   = local.metrics_namespace
  tags                    = local.tags
}

module "inference" {
  source                          = "../inference"
  name_prefix                     = local.name_prefix
  endpoint_name                   = local.endpoint_name
  image_uri                       = "${module.registry.repository_urls["inference"]}:${var.inference_image_tag}"
  model_data_url                  = var.model_data_url
  instance_type                   = var.inference_instance_type
  instance_count                  = var.inference_instance_count
  min_instances                   = var.inference_min_instances
  max_instances                   = var.inference_max_instances
  target_invocations_per_instance = var.inference_target_invocations_per_instance
  environment                     = var.inference_environment
  kms_key_arn                     = module.kms.key_arn
  inference_repository_arn        = module.registry.repository_arns["inference"]
  alarm_actions                   = [module.monitoring.sns_topic_arn]
  log_retention_days              = var.log_retention_days
  tags                            = local.tags
}

module "iam" {
  source                 = "../iam"
  name_prefix            = local.name_prefix
  bucket_arn             = module.storage.bucket_arn
  table_arn              = module.data.table_arn
  queue_arn              = module.queue.queue_arn
  dlq_arn                = module.queue.dlq_arn
  kms_key_arn            = module.kms.key_arn
  session_key_secret_arn = module.secrets.session_key_secret_arn
  hf_api_key_secret_arn  = module.secrets.hf_api_key_secret_arn
  sagemaker_endpoint_arn = module.inference.endpoint_arn
  bedrock_model_arn      = var.enable_bedrock ? module.bedrock[0].model_arn : null
  enable_rekognition     = var.enable_rekognition
  metrics_namespace      = local.metrics_namespace
  web_repository_arn     = module.registry.repository_arns["web"]
  web_log_group_arn      = module.web.log_group_arn
  tags                   = local.tags
}

module "web" {
  source                     = "../web"
  name_prefix                = local.name_prefix
  domain_name                = var.domain_name
  route53_zone_id            = var.route53_zone_id
  certificate_arn            = var.certificate_arn
  vpc_id                     = module.network.vpc_id
  vpc_cidr                   = module.network.vpc_cidr
  public_subnet_ids          = module.network.public_subnet_ids
  task_subnet_ids            = var.enable_nat_gateway ? module.network.private_subnet_ids : module.network.public_subnet_ids
  assign_public_ip           = !var.enable_nat_gateway
  image_uri                  = "${module.registry.repository_urls["web"]}:${var.web_image_tag}"
  cpu                        = var.web_cpu
  memory                     = var.web_memory
  cpu_architecture           = var.web_cpu_architecture
  desired_count              = var.web_desired_count
  min_tasks                  = var.web_min_tasks
  max_tasks                  = var.web_max_tasks
  environment                = local.web_environment
  task_role_arn              = module.iam.task_role_arn
  execution_role_arn         = module.iam.execution_role_arn
  kms_key_arn                = module.kms.key_arn
  log_retention_days         = var.log_retention_days
  alb_log_bucket             = module.storage.log_bucket_name
  alb_deletion_protection    = var.deletion_protection
  waf_rate_limit             = var.waf_rate_limit
  enable_cloudfront          = var.enable_cloudfront
  cloudfront_certificate_arn = var.cloudfront_certificate_arn
  cloudfront_web_acl_arn     = var.cloudfront_web_acl_arn
  tags                       = local.tags
}

module "github_oidc" {
  count                    = var.github_repository != null ? 1 : 0
  source                   = "../github-oidc"
  name_prefix              = local.name_prefix
  github_repository        = var.github_repository
  github_branch            = var.github_branch
  create_oidc_provider     = var.create_github_oidc_provider
  web_repository_arn       = module.registry.repository_arns["web"]
  inference_repository_arn = module.registry.repository_arns["inference"]
  ecs_service_arn          = module.web.service_arn
  task_role_arn            = module.iam.task_role_arn
  execution_role_arn       = module.iam.execution_role_arn
  sagemaker_endpoint_arn   = module.inference.endpoint_arn
  sagemaker_role_arn       = module.inference.role_arn
  kms_key_arn              = module.kms.key_arn
  tags                     = local.tags
}
