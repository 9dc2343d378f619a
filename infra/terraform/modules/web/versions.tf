terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
      # The CloudFront-scope web ACL and its log group must be in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
