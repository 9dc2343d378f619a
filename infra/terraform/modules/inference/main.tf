# SageMaker real-time endpoint for the imgcap-inference BYOC container.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id    = data.aws_caller_identity.current.account_id
  region        = data.aws_region.current.name
  partition     = data.aws_partition.current.partition
  endpoint_name = coalesce(var.endpoint_name, "${var.name_prefix}-captioner")
  variant_name  = "primary"

  # enable_tracing: the container exports its spans straight to X-Ray's OTLP endpoint, signed
  # with the execution role's credentials (a SageMaker container can have no collector beside
  # it); each variant under its own service name, so primary and candidate compare in X-Ray.
  tracing_environment = { for name in keys(local.variants) : name => var.enable_tracing ? {
    OTEL_EXPORTER_OTLP_ENDPOINT = "https://xray.${local.region}.amazonaws.com"
    OTEL_SERVICE_NAME           = "${var.name_prefix}-inference-${name}"
  } : {} }

  model_bucket = regex("^s3://([^/]+)/", var.model_data_url)[0]
  model_key    = regex("^s3://[^/]+/(.+)$", var.model_data_url)[0]

  # The primary variant and, while a model is on trial, the candidate (weighted: it answers
  # `weight` of the requests; shadow: it gets a copy of `weight` of them and its answers are
  # dropped). Weights are relative: primary 1 - w and candidate w, or primary 1 and shadow w.
  candidate = var.candidate == null ? null : {
    image_uri      = coalesce(var.candidate.image_uri, var.image_uri)
    model_data_url = coalesce(var.candidate.model_data_url, var.model_data_url)
    instance_type  = coalesce(var.candidate.instance_type, var.instance_type)
    instance_count = var.candidate.instance_count
    shadow         = var.candidate.mode == "shadow"
    weight         = var.candidate.weight
  }
  variants = merge(
    {
      (local.variant_name) = {
        image_uri      = var.image_uri
        model_data_url = var.model_data_url
        instance_type  = var.instance_type
        instance_count = var.instance_count
        shadow         = false
        weight         = local.candidate == null || try(local.candidate.shadow, false) ? 1 : 1 - local.candidate.weight
      }
    },
    local.candidate == null ? {} : { candidate = local.candidate },
  )

  # CUDA images carry a tag ending in -cuda (CI pushes <sha> and <sha>-cuda); an image pinned by
  # digest counts as a CPU image. The NVIDIA GPU families (ml.g*, ml.p*: as CD's
  # scripts/release-images.sh inference-kind) take the CUDA image and an inference AMI with a
  # matching driver; AWS Neuron families (ml.inf*, ml.trn*) have no imgcap build. The AMD GPU
  # family g4ad (suffix "ad") has no CUDA and takes the CPU image.
  gpu_families    = "^ml\\.(g[0-9]+(dn|e)?|gr[0-9]+|p[0-9]+[a-z]*)\\."
  neuron_families = "^ml\\.(inf1|inf2|trn1|trn1n|trn2)\\."
  variant_kinds = { for name, v in local.variants : name => {
    gpu_instance = can(regex(local.gpu_families, v.instance_type))
    neuron       = can(regex(local.neuron_families, v.instance_type))
    cuda_image   = can(regex(":[A-Za-z0-9_.-]*-cuda$", v.image_uri))
    # Instance types with local NVMe instance storage do not accept a KMS key for the volume
    # (SageMaker rejects KmsKeyId for them; their instance store is hardware-encrypted).
    instance_storage = can(regex("^ml\\.(c5d|c6id|g4dn|g5|g6|g6e|gr6|m5d|m6id|p3dn|p4d|p4de|p5|p5e|r5d|r6id|trn1)\\.", v.instance_type))
  } }
  has_instance_storage = anytrue([for k in values(local.variant_kinds) : k.instance_storage])

  # Model names hash the variant's role too: promoting the candidate creates a new primary
  # model next to the candidate's instead of colliding with its name.
  model_hashes = { for name, v in local.variants : name => substr(sha1(jsonencode({
    role        = name == local.variant_name ? null : name
    image       = v.image_uri
    model       = v.model_data_url
    environment = var.environment
    tracing     = local.tracing_environment[name]
    isolation   = var.enable_network_isolation
  })), 0, 8) }

  config_hash = substr(sha1(jsonencode({
    models = local.model_hashes
    variants = { for name, v in local.variants : name => {
      type   = v.instance_type
      count  = v.instance_count
      shadow = v.shadow
      weight = v.weight
      ami    = local.variant_kinds[name].gpu_instance ? var.inference_ami_version : null
    } }
    startup  = var.container_startup_timeout_seconds
    with_kms = !local.has_instance_storage
  })), 0, 8)

  autoscaling = var.enable_autoscaling ? 1 : 0
  # Per variant: the 5xx and p95 latency alarms (the primary's keep their original names).
  alarm_prefix = { for name in keys(local.variants) : name => name == local.variant_name ? local.endpoint_name : "${local.endpoint_name}-${name}" }
  alarm_names  = flatten([for name in keys(local.variants) : ["${local.alarm_prefix[name]}-5xx", "${local.alarm_prefix[name]}-model-latency"]])
}

# --- execution role ---------------------------------------------------------------------------
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

module "policy" {
  source   = "../policy-template"
  template = "sagemaker-execution-role.json"
  vars = {
    inference_repository_arn = var.inference_repository_arn
    model_data_object_arn    = "arn:${local.partition}:s3:::${local.model_bucket}/${local.model_key}"
    # A candidate with its own artifact may read exactly that one too (empty: dropped).
    candidate_model_data_object_arn = try(local.candidate.model_data_url, var.model_data_url) == var.model_data_url ? "" : "arn:${local.partition}:s3:::${replace(local.candidate.model_data_url, "s3://", "")}"
    kms_key_arn                     = var.kms_key_arn
    region                          = local.region
    log_group_arn                   = aws_cloudwatch_log_group.endpoint.arn
  }
  omit_statements = var.enable_tracing ? [] : ["XRayTraces"]
}

resource "aws_iam_role" "sagemaker" {
  name                 = "${var.name_prefix}-sagemaker"
  description          = "imgcap inference endpoint: pull its image, read its model artifact, write its logs."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "imgcap-inference"
  role   = aws_iam_role.sagemaker.id
  policy = module.policy.json
}

resource "aws_cloudwatch_log_group" "endpoint" {
  name              = "/aws/sagemaker/Endpoints/${local.endpoint_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- models, endpoint configuration, endpoint -------------------------------------------------
moved {
  from = aws_sagemaker_model.this
  to   = aws_sagemaker_model.this["primary"]
}

resource "aws_sagemaker_model" "this" {
  for_each                 = local.variants
  name                     = "${local.endpoint_name}-${local.model_hashes[each.key]}"
  execution_role_arn       = aws_iam_role.sagemaker.arn
  enable_network_isolation = var.enable_network_isolation

  primary_container {
    image          = each.value.image_uri
    mode           = "SingleModel"
    model_data_url = each.value.model_data_url
    environment    = merge({ IMGCAP_MODEL_DIR = "/opt/ml/model" }, local.tracing_environment[each.key], var.environment)
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = !(var.enable_tracing && var.enable_network_isolation)
      error_message = "enable_tracing needs enable_network_isolation = false: the container sends its spans to X-Ray itself, with the role's credentials."
    }
    precondition {
      condition     = !local.variant_kinds[each.key].neuron
      error_message = "${each.key} variant: ${each.value.instance_type} is an AWS Neuron (Inferentia/Trainium) type; imgcap-inference has CPU and CUDA builds only."
    }
    precondition {
      condition     = local.variant_kinds[each.key].gpu_instance == local.variant_kinds[each.key].cuda_image
      error_message = "${each.key} variant: ${each.value.instance_type} is ${local.variant_kinds[each.key].gpu_instance ? "an NVIDIA GPU type and needs the CUDA image (a tag ending in -cuda)" : "a CPU type and needs the CPU image (a tag without -cuda)"}, got ${each.value.image_uri}."
    }
    precondition {
      condition     = each.key == local.variant_name || each.value.image_uri != var.image_uri || each.value.model_data_url != var.model_data_url
      error_message = "The candidate runs the same image and model artifact as the primary variant: give it another image_uri or model_data_url."
    }
  }

  depends_on = [aws_iam_role_policy.sagemaker]
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  #checkov:skip=CKV_AWS_98:kms_key_arn is set for every instance type that accepts one; types with local NVMe storage (ml.g5 etc.) reject KmsKeyId and encrypt their instance store in hardware.
  name        = "${local.endpoint_name}-${local.config_hash}"
  kms_key_arn = local.has_instance_storage ? null : var.kms_key_arn

  dynamic "production_variants" {
    for_each = { for name, v in local.variants : name => v if !v.shadow }
    content {
      variant_name           = production_variants.key
      model_name             = aws_sagemaker_model.this[production_variants.key].name
      instance_type          = production_variants.value.instance_type
      initial_instance_count = production_variants.value.instance_count
      initial_variant_weight = production_variants.value.weight
      inference_ami_version  = local.variant_kinds[production_variants.key].gpu_instance ? var.inference_ami_version : null

      container_startup_health_check_timeout_in_seconds = var.container_startup_timeout_seconds
      model_data_download_timeout_in_seconds            = var.container_startup_timeout_seconds
    }
  }

  dynamic "shadow_production_variants" {
    for_each = { for name, v in local.variants : name => v if v.shadow }
    content {
      variant_name           = shadow_production_variants.key
      model_name             = aws_sagemaker_model.this[shadow_production_variants.key].name
      instance_type          = shadow_production_variants.value.instance_type
      initial_instance_count = shadow_production_variants.value.instance_count
      initial_variant_weight = shadow_production_variants.value.weight
      inference_ami_version  = local.variant_kinds[shadow_production_variants.key].gpu_instance ? var.inference_ami_version : null

      container_startup_health_check_timeout_in_seconds = var.container_startup_timeout_seconds
      model_data_download_timeout_in_seconds            = var.container_startup_timeout_seconds
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

# SageMaker refuses an update that changes the instance type of a variant registered with
# Application Auto Scaling. This guard deregisters the variant first whenever the instance type
# changes; the scalable target and its policy are re-created after the endpoint update.
resource "terraform_data" "resize_guard" {
  # Always present (replace_triggered_by cannot point at a resource with count = 0); it only
  # calls the AWS CLI when autoscaling and the guard are both on.
  triggers_replace = [var.instance_type]

  provisioner "local-exec" {
    command = var.enable_autoscaling && var.resize_guard ? "aws application-autoscaling deregister-scalable-target --region ${local.region} --service-namespace sagemaker --scalable-dimension sagemaker:variant:DesiredInstanceCount --resource-id endpoint/${local.endpoint_name}/variant/${local.variant_name} >/dev/null 2>&1 || true" : "true"
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = local.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name

  dynamic "deployment_config" {
    for_each = var.enable_blue_green ? [1] : []
    content {
      blue_green_update_policy {
        termination_wait_in_seconds          = 300
        maximum_execution_timeout_in_seconds = var.baking_period_seconds + var.container_startup_timeout_seconds + 1800

        traffic_routing_configuration {
          type                     = "ALL_AT_ONCE"
          wait_interval_in_seconds = var.baking_period_seconds
        }
      }

      auto_rollback_configuration {
        dynamic "alarms" {
          for_each = local.alarm_names
          content {
            alarm_name = alarms.value
          }
        }
      }
    }
  }

  tags = var.tags

  lifecycle {
    # The provider reads the endpoint back after its update: when SageMaker rolled the update
    # back (a rollback alarm fired during the bake) the endpoint still names the previous
    # configuration. Failing here stops the apply before Terraform deletes the previous model and
    # configuration, which the rolled-back endpoint runs on (create_before_destroy deletes them last).
    postcondition {
      condition     = self.endpoint_config_name == aws_sagemaker_endpoint_configuration.this.name
      error_message = "SageMaker rolled the endpoint update back: ${local.endpoint_name} runs ${self.endpoint_config_name}, not ${aws_sagemaker_endpoint_configuration.this.name}. The previous model and configuration are kept; follow RUNBOOK.md, \"SageMaker rolled a release back\"."
    }
  }

  depends_on = [
    terraform_data.resize_guard,
    aws_cloudwatch_metric_alarm.errors_5xx,
    aws_cloudwatch_metric_alarm.model_latency,
  ]
}

# --- alarms per variant (also the blue/green rollback triggers) --------------------------------
moved {
  from = aws_cloudwatch_metric_alarm.errors_5xx
  to   = aws_cloudwatch_metric_alarm.errors_5xx["primary"]
}

moved {
  from = aws_cloudwatch_metric_alarm.model_latency
  to   = aws_cloudwatch_metric_alarm.model_latency["primary"]
}

resource "aws_cloudwatch_metric_alarm" "errors_5xx" {
  for_each            = local.variants
  alarm_name          = "${local.alarm_prefix[each.key]}-5xx"
  alarm_description   = "SageMaker endpoint ${local.endpoint_name}, variant ${each.key}, answers 5xx."
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.alarm_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    EndpointName = local.endpoint_name
    VariantName  = each.key
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "model_latency" {
  for_each            = local.variants
  alarm_name          = "${local.alarm_prefix[each.key]}-model-latency"
  alarm_description   = "SageMaker endpoint ${local.endpoint_name}, variant ${each.key}: p95 model latency is high."
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.alarm_latency_ms * 1000 # ModelLatency is reported in microseconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    EndpointName = local.endpoint_name
    VariantName  = each.key
  }
  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

# --- autoscaling ------------------------------------------------------------------------------
resource "aws_appautoscaling_target" "this" {
  count              = local.autoscaling
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_instances
  max_capacity       = max(var.max_instances, var.min_instances)

  lifecycle {
    replace_triggered_by = [terraform_data.resize_guard]
  }
}

resource "aws_appautoscaling_policy" "invocations" {
  count              = local.autoscaling
  name               = "${local.endpoint_name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }

  lifecycle {
    replace_triggered_by = [terraform_data.resize_guard]
  }
}
