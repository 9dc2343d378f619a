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
  web_environment   = module.app_env.environment
}

# The web app's configuration: names are the contract with webapp/ (see README_infra.md).
module "app_env" {
  source = "../app-env"
  values = {
    environment            = var.environment
    region                 = local.region
    public_base_url        = local.app_base_url
    retention_days         = var.retention_days
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
    bedrock_model_id       = var.enable_bedrock ? module.bedrock[0].model_id : null
    rekognition_labels     = var.enable_rekognition
    metrics_namespace      = local.metrics_namespace
  }
  extra = var.extra_web_environment
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
  force_destroy        = var.allow_destroy_with_data
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
  source       = "../registry"
  name_prefix  = local.name_prefix
  kms_key_arn  = module.kms.key_arn
  force_delete = var.allow_destroy_with_data
  tags         = local.tags
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
  resize_guard                    = var.inference_resize_guard
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
  enable_tracing         = var.enable_tracing
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
  alb_log_prefix             = module.storage.alb_log_prefix
  alb_deletion_protection    = var.deletion_protection
  waf_rate_limit             = var.waf_rate_limit
  enable_cloudfront          = var.enable_cloudfront
  cloudfront_certificate_arn = var.cloudfront_certificate_arn
  cloudfront_web_acl_arn     = var.cloudfront_web_acl_arn
  enable_tracing             = var.enable_tracing
  tags                       = local.tags
}

module "github_oidc" {
  count                    = var.github_repository != null ? 1 : 0
  source                   = "../github-oidc"
  name_prefix              = local.name_prefix
  github_repository        = var.github_repository
  github_branch            = var.github_branch
  github_environment       = var.github_environment
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
