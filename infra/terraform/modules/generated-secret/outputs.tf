output "version_id" {
  description = "Id of the secret version holding the generated value."
  value       = aws_secretsmanager_secret_version.this.version_id
}
