# ECS task role (what the web app itself may do) and task execution role (what ECS needs to
# start it). Both policies are rendered from docs/iam/*.json, their single source of truth.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

module "task_policy" {
  source   = "../policy-template"
  template = "task-role.json"
  vars = {
    bucket_arn             = var.bucket_arn
    table_arn              = var.table_arn
    queue_arn              = var.queue_arn
    dlq_arn                = var.dlq_arn
    kms_key_arn            = var.kms_key_arn
    region                 = local.region
    session_key_secret_arn = var.session_key_secret_arn
    hf_api_key_secret_arn  = var.hf_api_key_secret_arn == null ? "" : var.hf_api_key_secret_arn
    endpoint_arn           = var.sagemaker_endpoint_arn
    bedrock_model_arn      = var.bedrock_model_arn == null ? "" : var.bedrock_model_arn
  }
  omit_statements = concat(
    var.bedrock_model_arn == null ? ["BedrockConverse"] : [],
    var.enable_rekognition ? [] : ["RekognitionDetectLabels"],
    var.enable_tracing ? [] : ["XRayTraces"],
  )
}

module "execution_policy" {
  source   = "../policy-template"
  template = "execution-role.json"
  vars = {
    web_repository_arn = var.web_repository_arn
    log_group_arn      = var.web_log_group_arn
  }
}

resource "aws_iam_role" "task" {
  name                 = "${var.name_prefix}-web-task"
  description          = "imgcap web app (ECS task role): bucket prefixes, table, queue, endpoint, secrets, key."
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "imgcap-web-app"
  role   = aws_iam_role.task.id
  policy = module.task_policy.json
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name_prefix}-web-execution"
  description          = "ECS task execution role for the imgcap web app: pull its image, write its logs."
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "imgcap-web-execution"
  role   = aws_iam_role.execution.id
  policy = module.execution_policy.json
}
