terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Bootstrap keeps its own (small) state locally: it creates the remote-state backend itself.
  # Keep terraform.tfstate of this root safe (or migrate it into the new bucket afterwards,
  # see README_infra.md).
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = "imgcap"
      Component = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}
