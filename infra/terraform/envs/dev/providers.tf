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

# CloudFront-scope WAF (and its log group and key) must be created in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Project     = "imgcap"
      Environment = local.environment
      ManagedBy   = "terraform"
    }
  }
}
