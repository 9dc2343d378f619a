output "user_pool_id" {
  description = "Id of the user pool (part of IMGCAP_OIDC_ISSUER)."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "Id of the public app client (IMGCAP_OIDC_CLIENT_ID)."
  value       = aws_cognito_user_pool_client.web.id
}

output "hosted_ui_base_url" {
  description = "Base URL of the hosted UI / OAuth endpoints (IMGCAP_OIDC_LOGOUT_URL is <domain>/logout)."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${local.region}.amazoncognito.com"
}

output "hosted_ui_login_url" {
  description = "Hosted-UI sign-in URL for the first callback URL."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${local.region}.amazoncognito.com/login?client_id=${aws_cognito_user_pool_client.web.id}&response_type=code&scope=openid+email+profile&redirect_uri=${urlencode(local.callback_urls[0])}"
}

output "issuer_url" {
  description = "OIDC issuer (IMGCAP_OIDC_ISSUER); JWKS at <issuer>/.well-known/jwks.json."
  value       = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "admin_group_name" {
  description = "Name of the Cognito group whose members are imgcap admins (IMGCAP_OIDC_ADMIN_GROUP)."
  value       = aws_cognito_user_group.admin.name
}

output "callback_urls" {
  description = "OAuth callback URLs registered on the app client."
  value       = local.callback_urls
}

output "logout_urls" {
  description = "Sign-out URLs registered on the app client."
  value       = local.logout_urls
}

output "test_user_name" {
  description = "Username (email) of the acceptance-test user, or null."
  value       = var.test_user == null ? null : aws_cognito_user.test[0].username
}
