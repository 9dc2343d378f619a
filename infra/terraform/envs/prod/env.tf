# The only file that differs between envs/dev and envs/prod (scripts/test-infra.sh checks this).
locals {
  environment = "prod"
}
