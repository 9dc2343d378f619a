# Secrets Manager secrets - containers only, no value appears in code, variables or state.
# The session key's value is generated at apply time by the generated-secret module, which the
# roots (envs/*) call next to this one; the optional HF API key is filled by an operator.
resource "aws_secretsmanager_secret" "session_key" {
  #checkov:skip=CKV2_AWS_57:Rotating the session key signs every user out, so it is a deliberate operator action (bump session_key_version in the root), not a schedule.
  name                    = "${var.name_prefix}/session-key"
  description             = "imgcap web app session signing/encryption key (64 random characters)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "hf_api_key" {
  #checkov:skip=CKV2_AWS_57:A third-party (Hugging Face) token cannot be rotated by a Secrets Manager rotation function; it is replaced by hand.
  count                   = var.create_hf_api_key_secret ? 1 : 0
  name                    = "${var.name_prefix}/hf-api-key"
  description             = "Hugging Face Inference API token for the HF captioner fallback (value put by an operator)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
