output "session_key_secret_arn" {
  description = "ARN of the session-key secret (IMGCAP_SESSION_KEY_SECRET_ARN)."
  value       = aws_secretsmanager_secret.session_key.arn
}

output "session_key_secret_name" {
  description = "Name of the session-key secret."
  value       = aws_secretsmanager_secret.session_key.name
}

output "hf_api_key_secret_arn" {
  description = "ARN of the Hugging Face API key secret (IMGCAP_HF_API_KEY_SECRET_ARN), or null when not created."
  value       = var.create_hf_api_key_secret ? aws_secretsmanager_secret.hf_api_key[0].arn : null
}

output "hf_api_key_secret_name" {
  description = "Name of the Hugging Face API key secret, or null when not created."
  value       = var.create_hf_api_key_secret ? aws_secretsmanager_secret.hf_api_key[0].name : null
}

output "cognito_test_user_secret_arn" {
  description = "ARN of the Cognito acceptance-test user's password secret, or null when not created."
  value       = var.create_cognito_test_user_secret ? aws_secretsmanager_secret.cognito_test_user_password[0].arn : null
}

output "origin_verify_secret_arn" {
  description = "ARN of the CloudFront origin-verify header secret, or null when not created."
  value       = var.create_origin_verify_secret ? aws_secretsmanager_secret.origin_verify[0].arn : null
}
