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

  # Every secret read by Terraform (identity-provider secrets, the test user's password, the
  # origin-verify header) reads as this value.
  mock_data "aws_secretsmanager_secret_version" {
    defaults = {
      secret_string = "mocked"
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

  mock_resource "aws_lb_listener" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/imgcap-prod-web/0123456789abcdef/0123456789abcdef"
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

# us-east-1: the CloudFront-scope web ACL, its log group and their KMS key.
mock_provider "aws" {
  alias = "us_east_1"

  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
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

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-imgcap-prod-edge"
    }
  }

  mock_resource "aws_wafv2_web_acl" {
    defaults = {
      arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/imgcap-prod-edge/11111111-1111-1111-1111-111111111111"
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
    condition     = module.inference.capacity == { initial = 2, min = 2, max = 4 }
    error_message = "prod runs two inference instances at least unless told otherwise (one per AZ of a failure)"
  }

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

  assert {
    condition     = keys(output.role_permissions_boundaries) == ["imgcap-prod-github-deploy", "imgcap-prod-sagemaker", "imgcap-prod-vpc-flow-logs", "imgcap-prod-web-execution", "imgcap-prod-web-task"] && alltrue([for b in values(output.role_permissions_boundaries) : b == null])
    error_message = "without permissions_boundary no role carries one (accounts without the CI roles)"
  }
}

run "every_role_carries_the_boundary" {
  command = apply

  variables {
    permissions_boundary = "arn:aws:iam::123456789012:policy/imgcap-prod-role-boundary"
  }

  assert {
    condition     = length(output.role_permissions_boundaries) == 5 && alltrue([for b in values(output.role_permissions_boundaries) : b == "arn:aws:iam::123456789012:policy/imgcap-prod-role-boundary"])
    error_message = "every role of the stack must carry the boundary: the CI deploy role may create roles only with it"
  }
}

run "boundary_must_be_a_policy_arn" {
  command = plan

  variables {
    permissions_boundary = "imgcap-prod-role-boundary"
  }

  expect_failures = [var.permissions_boundary]
}

run "resize_to_gpu_and_enable_features" {
  command = apply

  variables {
    inference_instance_type  = "ml.g5.xlarge"
    inference_image_tag      = "0123abc-cuda"
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

run "candidate_variant_on_trial" {
  command = apply

  variables {
    inference_candidate = {
      image_tag     = "4567def-cuda"
      instance_type = "ml.g5.xlarge"
      mode          = "shadow"
      weight        = 0.5
    }
  }

  assert {
    condition     = module.inference.candidate_variant_name == "candidate" && output.sagemaker_candidate_variant_name == "candidate"
    error_message = "the candidate variant must reach the outputs promote-model.sh and deploy.sh read"
  }

  assert {
    condition     = module.inference.model_names["candidate"] != module.inference.model_names["primary"] && module.inference.inference_ami_versions["primary"] == null && module.inference.inference_ami_versions["candidate"] == "al2-ami-sagemaker-inference-gpu-3-1"
    error_message = "the GPU shadow gets its own model and the GPU AMI; the CPU primary none"
  }

  assert {
    condition     = length([for w in jsondecode(module.monitoring.dashboard_body).widgets : w if startswith(try(w.properties.title, ""), "Promotion:")]) == 2
    error_message = "the dashboard shows the candidate next to the primary while a model is on trial"
  }
}

run "rejects_bad_instance_type" {
  command = plan

  variables {
    inference_instance_type = "c6i.xlarge"
  }

  expect_failures = [var.inference_instance_type]
}

run "defaults_have_no_optional_auth_or_edge_parts" {
  command = apply

  assert {
    condition     = module.auth.email_sending_account == "COGNITO_DEFAULT" && length(module.auth.identity_providers) == 0 && join(",", module.auth.supported_identity_providers) == "COGNITO"
    error_message = "without configuration Cognito must use its default sender and offer no social identity providers"
  }

  assert {
    condition     = output.cognito_test_user_secret_arn == null && output.cognito_test_user_name == null && output.cognito_user_pool_id == "eu-west-1_AbCdEf123" && output.cognito_client_id != null
    error_message = "no test user by default, but the pool and client ids are outputs"
  }

  assert {
    condition     = join(",", module.auth.explicit_auth_flows) == "ALLOW_REFRESH_TOKEN_AUTH"
    error_message = "without the test user the app client must allow only the hosted UI and refresh tokens"
  }

  assert {
    condition     = output.cloudfront_domain_name == null && output.waf_web_acl_arns.edge == null && output.origin_verify_header == null && output.origin_verify_secret_arn == null && module.web.origin_verify == null
    error_message = "without CloudFront there is no edge web ACL and no origin-verify header"
  }

  assert {
    condition     = module.web.waf_rate_limit_key == "IP" && startswith(output.waf_web_acl_arns.regional, "arn:aws:wafv2:eu-west-1:")
    error_message = "an ALB facing clients directly must rate-limit per source IP"
  }

  assert {
    condition     = !strcontains(output.web_environment.IMGCAP_CAPTIONER_CHAIN, "hf") && !contains(keys(output.web_environment), "IMGCAP_CAPTIONER_HF_MODEL_ID")
    error_message = "the HF captioner must stay out of the chain unless enabled"
  }
}

run "cognito_email_through_ses" {
  command = apply

  variables {
    ses_from_identity_arn = "arn:aws:ses:eu-west-1:123456789012:identity/example.com"
    ses_from_address      = "imgcap <no-reply@example.com>"
  }

  assert {
    condition     = module.auth.email_sending_account == "DEVELOPER"
    error_message = "with a verified SES identity Cognito must send through SES (DEVELOPER)"
  }
}

run "identity_provider_secrets_from_secrets_manager" {
  command = apply

  variables {
    social_identity_providers = {
      Google = {
        provider_type = "Google"
        client_id     = "1234-abc.apps.googleusercontent.com"
        secret_id     = "imgcap/prod/idp/google"
      }
      SignInWithApple = {
        provider_type = "SignInWithApple"
        client_id     = "com.example.imgcap.signin"
        secret_id     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imgcap/prod/idp/apple-AbCdEf"
        team_id       = "ABCDE12345"
        key_id        = "KEY1234567"
      }
    }
  }

  assert {
    condition     = module.auth.identity_providers.Google.type == "Google" && join(",", module.auth.identity_providers.Google.detail_keys) == "authorize_scopes,client_id,client_secret"
    error_message = "Google must get its client secret (from Secrets Manager)"
  }

  assert {
    condition     = join(",", module.auth.identity_providers.SignInWithApple.detail_keys) == "authorize_scopes,client_id,key_id,private_key,team_id"
    error_message = "Sign in with Apple must get team_id, key_id and the private key (from Secrets Manager), no client secret"
  }

  assert {
    condition     = alltrue([for p in values(module.auth.identity_providers) : p.secret_arn != null])
    error_message = "every provider's secret must be read from Secrets Manager"
  }

  assert {
    condition     = join(",", sort(module.auth.supported_identity_providers)) == "COGNITO,Google,SignInWithApple"
    error_message = "the app client must offer the configured providers"
  }
}

run "acceptance_test_user" {
  command = apply

  variables {
    create_cognito_test_user              = true
    cognito_test_user_password_version_id = "00000000-0000-0000-0000-000000000001"
  }

  assert {
    condition     = output.cognito_test_user_secret_arn != null && output.cognito_test_user_name == "acceptance-test@imgcap.example.com"
    error_message = "the test user and its password secret must be outputs"
  }

  assert {
    condition     = contains(module.auth.explicit_auth_flows, "ALLOW_ADMIN_USER_PASSWORD_AUTH")
    error_message = "scripts must be able to sign the test user in with AdminInitiateAuth"
  }
}

run "cloudfront_with_edge_waf_and_origin_verify" {
  command = apply

  variables {
    enable_cloudfront          = true
    certificate_arn            = "arn:aws:acm:eu-west-1:123456789012:certificate/33333333-3333-3333-3333-333333333333"
    cloudfront_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/22222222-2222-2222-2222-222222222222"
    origin_verify_version_id   = "00000000-0000-0000-0000-000000000002"
  }

  assert {
    condition     = output.cloudfront_domain_name != null
    error_message = "the CloudFront domain name must reach the outputs"
  }

  assert {
    condition     = startswith(output.waf_web_acl_arns.edge, "arn:aws:wafv2:us-east-1:") && startswith(output.waf_web_acl_arns.regional, "arn:aws:wafv2:eu-west-1:")
    error_message = "CloudFront needs its own web ACL in us-east-1 besides the regional one"
  }

  assert {
    condition     = module.web.origin_verify.header_name == "X-Origin-Verify" && module.web.origin_verify.listener_rule_arn != null && module.web.origin_verify.other_requests == "403" && output.origin_verify_secret_arn != null
    error_message = "behind CloudFront the ALB must forward only requests with the origin-verify header and answer 403 otherwise"
  }

  assert {
    condition     = module.web.waf_rate_limit_key == "FORWARDED_IP"
    error_message = "behind CloudFront the regional rate limit must count the forwarded client IP"
  }
}

run "hf_captioner_in_the_chain" {
  command = apply

  variables {
    create_hf_api_key_secret = true
    enable_hf_captioner      = true
    enable_bedrock           = true
    hf_model_id              = "Salesforce/blip-image-captioning-base"
  }

  assert {
    condition     = output.web_environment.IMGCAP_CAPTIONER_CHAIN == "sagemaker,bedrock,hf" && output.web_environment.IMGCAP_CAPTIONER_HF_MODEL_ID == "Salesforce/blip-image-captioning-base" && output.web_environment.IMGCAP_HF_API_KEY_SECRET_ARN == output.hf_api_key_secret_arn
    error_message = "the HF captioner must come last in the chain, with its model and token secret"
  }
}

run "hf_captioner_needs_its_secret" {
  command = plan

  variables {
    enable_hf_captioner = true
  }

  expect_failures = [var.enable_hf_captioner]
}

run "dev_defaults_to_one_inference_instance" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = module.inference.capacity == { initial = 1, min = 1, max = 4 }
    error_message = "outside prod the endpoint starts with one instance"
  }
}

run "inference_tracing_leaves_network_isolation" {
  command = plan

  variables {
    enable_inference_tracing = true
  }

  assert {
    condition     = length([for st in jsondecode(module.inference.role_policy_json).Statement : st if st.Sid == "XRayTraces"]) == 1
    error_message = "the SageMaker role may send its spans to X-Ray"
  }
}
