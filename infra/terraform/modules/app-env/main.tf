# The one place that names the web app's environment variables for AWS mode. modules/stack
# puts this map into the ECS task definition; envs/emulator outputs it for the web app's
# AWS-mode contract tests. README_infra.md ("What the web app must use") documents each one.
locals {
  v = var.values

  # Cognito sign-in, in the names the app reads ([oidc] section); only with a public URL, which
  # the hosted UI redirects back to.
  oidc = local.v.public_base_url == null ? {} : {
    IMGCAP_OIDC_ISSUER              = local.v.cognito_issuer
    IMGCAP_OIDC_CLIENT_ID           = local.v.cognito_client_id
    IMGCAP_OIDC_REDIRECT_URL        = "${local.v.public_base_url}/auth/callback"
    IMGCAP_OIDC_LOGOUT_URL          = local.v.cognito_domain == null ? null : "${local.v.cognito_domain}/logout"
    IMGCAP_OIDC_LOGOUT_REDIRECT_URL = local.v.cognito_domain == null ? null : "${local.v.public_base_url}/"
    IMGCAP_OIDC_ADMIN_GROUP         = local.v.cognito_admin_group
  }

  environment = { for k, val in merge(
    {
      IMGCAP_MODE                = "aws"
      AWS_REGION                 = local.v.region
      IMGCAP_LISTEN_ADDR         = "0.0.0.0:8080"
      IMGCAP_PUBLIC_BASE_URL     = local.v.public_base_url
      IMGCAP_LOG_FORMAT          = "json"
      IMGCAP_RETENTION_DAYS      = tostring(local.v.retention_days)
      IMGCAP_S3_BUCKET           = local.v.bucket_name
      IMGCAP_S3_KMS_KEY_ARN      = local.v.kms_key_arn
      IMGCAP_DYNAMODB_TABLE      = local.v.table_name
      IMGCAP_DYNAMODB_JOBS_INDEX = local.v.jobs_index_name
      IMGCAP_SQS_QUEUE_URL       = local.v.queue_url
      IMGCAP_SQS_DLQ_URL         = local.v.dlq_url
      # Our inference endpoint first; Bedrock, then the Hugging Face Inference API answer when
      # they are enabled and every entry before them failed or has its circuit open.
      IMGCAP_CAPTIONER_CHAIN = join(",", concat(
        ["sagemaker"],
        local.v.bedrock_model_id == null ? [] : ["bedrock"],
        local.v.hf_captioner ? ["hf"] : [],
      ))
      IMGCAP_CAPTIONER_HF_MODEL_ID  = local.v.hf_captioner ? local.v.hf_model_id : null
      IMGCAP_SAGEMAKER_ENDPOINT     = local.v.sagemaker_endpoint
      IMGCAP_SESSION_KEY_SECRET_ARN = local.v.session_key_secret_arn
      IMGCAP_HF_API_KEY_SECRET_ARN  = local.v.hf_api_key_secret_arn
      IMGCAP_BEDROCK_MODEL_ID       = local.v.bedrock_model_id
      IMGCAP_REKOGNITION_LABELS     = tostring(local.v.rekognition_labels)
      # The app's CloudWatch metrics (embedded metric format on stdout, extracted from the
      # awslogs log group): the namespace and Environment dimension that modules/monitoring's
      # dashboard and caption-failure alarm read.
      IMGCAP_METRICS_CLOUDWATCH_NAMESPACE   = local.v.metrics_namespace
      IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT = local.v.environment
      # The root filesystem is read-only; the app's scratch SQLite file (local accounts, unused
      # with Cognito) goes under /tmp. Sessions and API tokens are in DynamoDB.
      IMGCAP_DATA_DIR = "/tmp/imgcap"
      TMPDIR          = "/tmp"

      # Behind the ALB (idle timeout 60 s): idle connections are kept longer than the ALB keeps
      # them, so the ALB closes first and never sends on a connection the app is closing (502);
      # the ALB forwards only whole request heads, so the long header-read timeout is safe.
      IMGCAP_SERVER_KEEP_ALIVE_TIMEOUT_MS  = "75000"
      IMGCAP_SERVER_HEADER_READ_TIMEOUT_MS = "75000"
    },
    local.oidc,
    var.extra,
  ) : k => val if val != null }
}
