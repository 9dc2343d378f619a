# Single-table layout (see infra/README_infra.md, "What the web app must use"):
#   image record + job status   pk = <user id>             sk = <image ULID>
#   rate-limit token bucket     pk = ratelimit#<user id>   sk = <bucket name>
# TTL attribute expires_at (epoch seconds) on every item. The sparse GSI "jobs-by-state" holds
# only records whose job_state attribute is set ("pending" or "failed"); the app removes the
# attribute when a job is done, so the index stays small and lists stuck/failed jobs cheaply.
resource "aws_dynamodb_table" "this" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "job_state"
    type = "S"
  }

  global_secondary_index {
    name            = "jobs-by-state"
    hash_key        = "job_state"
    range_key       = "sk"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = var.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
