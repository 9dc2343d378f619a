# Plan/apply the whole stack against a mocked AWS provider (no account, no network):
# checks the wiring of every module - including network, web, monitoring, github-oidc and
# bedrock, which the emulator test cannot apply - and the resize / feature switches.
# Run: cd infra/terraform/modules/stack && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_availability_zones" {
    defaults = {
      names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_data "aws_bedrock_foundation_model" {
    defaults = {
      model_id                  = "anthropic.claude-3-haiku-20240307-v1:0"
      model_arn                 = "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
      input_modalities          = ["TEXT", "IMAGE"]
      inference_types_supported = ["ON_DEMAND"]
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::imgcap-prod-images-123456789012"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgcap-prod"
    }
  }

  mock_resource "aws_sagemaker_endpoint" {
    defaults = {
      arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/imgcap-prod-captioner"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/imgcap-prod-web"
      repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgcap-prod-web"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/imgcap-prod-role"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/imgcap-prod-web"
    }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imgcap/prod/session-key-AbCdEf"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }
  mock_resource "aws_cognito_user_pool" {
    defaults = {
      id  = "eu-west-1_AbCdEf123"
      arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:imgcap-prod-alarms"
    }
  }

  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/imgcap-prod-web/0123456789abcdef"
      arn_suffix = "app/imgcap-prod-web/0123456789abcdef"
      dns_name   = "imgcap-prod-web-123.eu-west-1.elb.amazonaws.com"
      zone_id    = "Z32O12XQLNTSW2"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/imgcap-prod-web/0123456789abcdef"
      arn_suffix = "targetgroup/imgcap-prod-web/0123456789abcdef"
    }
  }

  mock_resource "aws_wafv2_web_acl" {
    defaults = {
      arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/imgcap-prod-web/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
      domain_validation_options = [{
        domain_name           = "imgcap.example.com"
        resource_record_name  = "_abc.imgcap.example.com."
        resource_record_type  = "CNAME"
        resource_record_value = "_def.acm-validations.aws."
      }]
    }
  }

  mock_resource "aws_acm_certificate_validation" {
    defaults = {
      certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/imgcap-prod"
    }
  }

  mock_resource "aws_ecs_service" {
    defaults = {
      id = "arn:aws:ecs:eu-west-1:123456789012:service/imgcap-prod/imgcap-prod-web"
    }
  }

  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/imgcap-prod-web:1"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:imgcap-prod-captions"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/imgcap-prod-captions"
    }
  }

  mock_resource "aws_vpc" {
    defaults = {
      id = "vpc-0123456789abcdef0"
    }
  }

  mock_resource "aws_security_group" {
    defaults = {
      id  = "sg-0123456789abcdef0"
      arn = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0123456789abcdef0"
    }
  }

  mock_resource "aws_subnet" {
    defaults = {
      id = "subnet-0123456789abcdef0"
    }
  }

  mock_resource "aws_route_table" {
    defaults = {
      id = "rtb-0123456789abcdef0"
    }
  }

  mock_resource "aws_sagemaker_model" {
    defaults = {
      arn = "arn:aws:sagemaker:eu-west-1:123456789012:model/imgcap-prod-captioner-00000000"
    }
  }

  mock_resource "aws_sagemaker_endpoint_configuration" {
    defaults = {
      arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/imgcap-prod-captioner-00000000"
    }
  }
}

variables {
  environment           = "prod"
  domain_name           = "imgcap.example.com"
  route53_zone_id       = "Z0123456789ABCDEFGHIJ"
  cognito_domain_prefix = "imgcap-example-prod"
  alarm_email           = "ops@example.com"
  web_image_tag         = "0123abc"
  inference_image_tag   = "0123abc"
  model_data_url        = "s3://imgcap-models-123456789012/captioner/v1/model.tar.gz"
  github_repository     = "example-org/imgcap"
  # The guard shells out to the aws CLI; nothing to deregister in a mocked run.
  inference_resize_guard = false
}

run "defaults_cpu_endpoint" {
  command = apply

  assert {
    condition     = output.app_url == "https://imgcap.example.com/"
    error_message = "app_url must be https://<domain_name>/"
  }

  assert {
    condition     = output.sagemaker_endpoint_name == "imgcap-prod-captioner"
    error_message = "unexpected endpoint name"
  }

  assert {
    condition     = module.inference.instance_type == "ml.c6i.xlarge" && module.inference.volume_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    error_message = "the default endpoint must run on ml.c6i.xlarge with KMS-encrypted volumes"
  }

  assert {
    condition     = startswith(output.dashboard_url, "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/imgcap-prod")
    error_message = "unexpected dashboard URL"
  }

  assert {
    condition     = startswith(output.cognito_hosted_ui_url, "https://imgcap-example-prod.auth.eu-west-1.amazoncognito.com/login?")
    error_message = "unexpected hosted-UI URL"
  }

  assert {
    condition = alltrue([for k in [
      "IMGCAP_MODE", "AWS_REGION", "IMGCAP_S3_BUCKET", "IMGCAP_DYNAMODB_TABLE", "IMGCAP_DYNAMODB_JOBS_INDEX",
      "IMGCAP_SQS_QUEUE_URL", "IMGCAP_SQS_DLQ_URL", "IMGCAP_SAGEMAKER_ENDPOINT", "IMGCAP_OIDC_ISSUER",
      "IMGCAP_OIDC_CLIENT_ID", "IMGCAP_OIDC_REDIRECT_URL", "IMGCAP_OIDC_LOGOUT_URL", "IMGCAP_SESSION_KEY_SECRET_ARN",
    ] : contains(keys(output.web_environment), k)])
    error_message = "the web task misses an IMGCAP_* setting"
  }

  assert {
    condition = (output.web_environment.IMGCAP_OIDC_REDIRECT_URL == "https://imgcap.example.com/auth/callback" &&
      output.web_environment.IMGCAP_OIDC_LOGOUT_REDIRECT_URL == "https://imgcap.example.com/" &&
    output.web_environment.IMGCAP_CAPTIONER_CHAIN == "sagemaker")
    error_message = "sign-in must return to the app and captions must come from the endpoint"
  }

  assert {
    condition     = output.web_environment.IMGCAP_MODE == "aws" && output.web_environment.IMGCAP_PUBLIC_BASE_URL == "https://imgcap.example.com"
    error_message = "web task environment is wrong"
  }

  assert {
    condition = (module.monitoring.app_metrics.namespace == output.web_environment.IMGCAP_METRICS_CLOUDWATCH_NAMESPACE &&
      module.monitoring.app_metrics.namespace == "imgcap" &&
    module.monitoring.app_metrics.dimensions == tomap({ Environment = output.web_environment.IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT }))
    error_message = "the web app must write its CloudWatch metrics (EMF) into the namespace and Environment dimension the alarm reads"
  }

  assert {
    condition     = !contains(keys(output.web_environment), "IMGCAP_BEDROCK_MODEL_ID") && !contains(keys(output.web_environment), "IMGCAP_HF_API_KEY_SECRET_ARN")
    error_message = "disabled captioners must not be configured"
  }

  assert {
    condition     = !contains(module.iam.task_policy_json == "" ? [] : [for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "BedrockConverse")
    error_message = "Bedrock must not be granted when disabled"
  }

  assert {
    condition     = !contains([for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "RekognitionDetectLabels")
    error_message = "Rekognition must not be granted when disabled"
  }

  assert {
    condition     = module.web.container_names == ["web"] && !contains([for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "XRayTraces")
    error_message = "tracing is off by default: no collector sidecar, no X-Ray permission"
  }

  assert {
    condition     = length(module.github_oidc) == 1 && module.github_oidc[0].subject == "repo:example-org/imgcap:ref:refs/heads/main"
    error_message = "the deploy role must be limited to the main branch of the repository"
  }
}

run "resize_to_gpu_and_enable_features" {
  command = apply

  variables {
    inference_instance_type  = "ml.g5.xlarge"
    enable_bedrock           = true
    enable_rekognition       = true
    create_hf_api_key_secret = true
    enable_nat_gateway       = true
    enable_tracing           = true
  }


  assert {
    condition     = module.inference.instance_type == "ml.g5.xlarge" && module.inference.volume_kms_key_arn == null
    error_message = "ml.g5.xlarge must run without a volume KMS key (SageMaker rejects one for NVMe instance storage)"
  }

  assert {
    condition = contains([for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "BedrockConverse") && contains(
      flatten([for s in jsondecode(module.iam.task_policy_json).Statement : s.Resource if s.Sid == "BedrockConverse"]),
    "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")
    error_message = "Bedrock must be granted on exactly the chosen model"
  }

  assert {
    condition     = contains([for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "RekognitionDetectLabels")
    error_message = "Rekognition must be granted when enabled"
  }

  assert {
    condition     = module.web.container_names == ["web", "otel-collector"] && contains([for s in jsondecode(module.iam.task_policy_json).Statement : s.Sid], "XRayTraces")
    error_message = "enable_tracing must add the collector sidecar and grant it X-Ray"
  }

  assert {
    condition     = output.web_environment.IMGCAP_BEDROCK_MODEL_ID == "anthropic.claude-3-haiku-20240307-v1:0" && output.web_environment.IMGCAP_REKOGNITION_LABELS == "true" && output.web_environment.IMGCAP_CAPTIONER_CHAIN == "sagemaker,bedrock"
    error_message = "the web task must be told about enabled captioners"
  }

  assert {
    condition     = contains(keys(output.web_environment), "IMGCAP_HF_API_KEY_SECRET_ARN")
    error_message = "the HF key secret must be passed when created"
  }
}

run "rejects_bad_instance_type" {
  command = plan

  variables {
    inference_instance_type = "c6i.xlarge"
  }

  expect_failures = [var.inference_instance_type]
}
