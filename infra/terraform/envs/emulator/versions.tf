terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  # Local state only: this root is applied against a throw-away AWS emulator (moto) on loopback
  # by scripts/test-infra.sh, then destroyed.
}
