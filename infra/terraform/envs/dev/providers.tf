provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = "imgcap"
      Environment = local.environment
      ManagedBy   = "terraform"
    }
  }
}
