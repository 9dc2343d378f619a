# Cognito user pool with email sign-up, hosted UI domain, a public app client for the
# authorization-code flow with PKCE, the "admin" group, optional social identity providers
# (their secrets read from Secrets Manager), optional SES sending and an optional test user.
data "aws_region" "current" {}

locals {
  region        = data.aws_region.current.name
  callback_urls = [for u in var.app_base_urls : "${u}/auth/callback"]
  logout_urls   = [for u in var.app_base_urls : "${u}/"]

  # Scopes each provider type accepts when the configuration names none.
  default_scopes = {
    Google          = "openid email profile"
    Facebook        = "public_profile,email"
    LoginWithAmazon = "profile"
    SignInWithApple = "email name"
    OIDC            = "openid email profile"
  }
}

resource "aws_cognito_user_pool" "this" {
  name                     = var.name_prefix
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = var.mfa_configuration
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  user_pool_tier           = var.set_feature_plan ? (var.advanced_security_mode == "OFF" ? "ESSENTIALS" : "PLUS") : null

  username_configuration {
    case_sensitive = false
  }

  password_policy {
    minimum_length                   = var.password_minimum_length
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  admin_create_user_config {
    allow_admin_create_user_only = !var.allow_self_signup
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa_configuration == "OFF" ? [] : [1]
    content {
      enabled = true
    }
  }

  dynamic "user_pool_add_ons" {
    for_each = var.advanced_security_mode == "OFF" ? [] : [1]
    content {
      advanced_security_mode = var.advanced_security_mode
    }
  }

  verification_message_template {
    default_email_option = "CONFIRM_WITH_CODE"
  }

  # Through SES with this account's own quota once an identity is verified (DEVELOPER); without
  # one, Cognito's default sender and its small daily quota.
  dynamic "email_configuration" {
    for_each = var.ses_from_identity_arn == null ? [] : [1]
    content {
      email_sending_account  = "DEVELOPER"
      source_arn             = var.ses_from_identity_arn
      from_email_address     = var.ses_from_address
      reply_to_email_address = var.ses_reply_to_address
    }
  }

  tags = var.tags
}

resource "aws_cognito_user_pool_domain" "this" {
  domain       = var.domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
}

# Each provider's secret (the client secret; Apple's private key) lives in Secrets Manager, so
# neither CD nor a tfvars file carries it. It still ends up in the encrypted state.
data "aws_secretsmanager_secret_version" "social" {
  for_each  = var.social_identity_providers
  secret_id = each.value.secret_id
}

resource "aws_cognito_identity_provider" "social" {
  for_each = var.social_identity_providers

  user_pool_id  = aws_cognito_user_pool.this.id
  provider_name = each.key
  provider_type = each.value.provider_type

  provider_details = merge(
    {
      client_id        = each.value.client_id
      authorize_scopes = coalesce(each.value.authorize_scopes, local.default_scopes[each.value.provider_type])
    },
    each.value.provider_type == "SignInWithApple" ? {
      team_id     = each.value.team_id
      key_id      = each.value.key_id
      private_key = data.aws_secretsmanager_secret_version.social[each.key].secret_string
      } : {
      client_secret = data.aws_secretsmanager_secret_version.social[each.key].secret_string
    },
    each.value.provider_type == "OIDC" ? {
      oidc_issuer               = each.value.oidc_issuer
      attributes_request_method = "GET"
    } : {}
  )

  attribute_mapping = {
    email    = "email"
    username = lookup({ Facebook = "id", LoginWithAmazon = "user_id" }, each.value.provider_type, "sub")
  }
}

resource "aws_cognito_user_pool_client" "web" {
  name         = "${var.name_prefix}-web"
  user_pool_id = aws_cognito_user_pool.this.id

  # Public client: authorization code + PKCE, no client secret.
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  callback_urls                        = local.callback_urls
  default_redirect_uri                 = local.callback_urls[0]
  logout_urls                          = local.logout_urls
  supported_identity_providers         = concat(["COGNITO"], keys(var.social_identity_providers))
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.access_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }

  depends_on = [aws_cognito_identity_provider.social]
}

resource "aws_cognito_user_group" "admin" {
  name         = "admin"
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "imgcap administrators (admin pages and figures)."
  precedence   = 1
}

# Optional user for scripted acceptance tests (scripts/acceptance.sh). Its password is generated
# into a Secrets Manager secret by the root (modules/generated-secret); it is read here so that
# Cognito gets the same value, and the user is created confirmed, without an invitation email.
data "aws_secretsmanager_secret_version" "test_user_password" {
  count      = var.test_user == null ? 0 : 1
  secret_id  = var.test_user.password_secret_arn
  version_id = var.test_user.password_version_id
}

resource "aws_cognito_user" "test" {
  count          = var.test_user == null ? 0 : 1
  user_pool_id   = aws_cognito_user_pool.this.id
  username       = var.test_user.email
  password       = data.aws_secretsmanager_secret_version.test_user_password[0].secret_string
  message_action = "SUPPRESS"

  attributes = {
    email          = var.test_user.email
    email_verified = "true"
  }
}
