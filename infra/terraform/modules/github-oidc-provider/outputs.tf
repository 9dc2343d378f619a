output "arn" {
  description = "ARN of the GitHub OIDC provider (the Federated principal of the roles' trust policies)."
  value       = var.create ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
}

output "issuer" {
  description = "The token issuer, the prefix of the trust policies' condition keys (<issuer>:aud, <issuer>:sub)."
  value       = local.issuer
}
