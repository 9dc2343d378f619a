# Every service the emulator root touches is pointed at the emulator. Credentials are dummies
# supplied by scripts/test-infra.sh through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
provider "aws" {
  region                      = var.aws_region
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    applicationautoscaling = var.emulator_endpoint
    cloudwatch             = var.emulator_endpoint
    cognitoidp             = var.emulator_endpoint
    dynamodb               = var.emulator_endpoint
    ecr                    = var.emulator_endpoint
    iam                    = var.emulator_endpoint
    kms                    = var.emulator_endpoint
    logs                   = var.emulator_endpoint
    s3                     = var.emulator_endpoint
    sagemaker              = var.emulator_endpoint
    secretsmanager         = var.emulator_endpoint
    sns                    = var.emulator_endpoint
    sqs                    = var.emulator_endpoint
    sts                    = var.emulator_endpoint
  }

  default_tags {
    tags = {
      Project     = "imgcap"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
