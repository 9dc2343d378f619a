terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state in the bucket + lock table created by infra/terraform/bootstrap.
  # Fill backend.hcl from backend.hcl.example and run: terraform init -backend-config=backend.hcl
  backend "s3" {}
}
