variable "name_prefix" {
  type        = string
  description = "Prefix for the user pool and app client names, e.g. \"imgcap-prod\"."
}

variable "domain_prefix" {
  type        = string
  description = "Prefix of the Cognito hosted-UI domain: https://<domain_prefix>.auth.<region>.amazoncognito.com. Must be unique in the region."

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix)) && !can(regex("(aws|amazon|cognito)", var.domain_prefix))
    error_message = "domain_prefix must be 1-63 lower-case letters, digits and hyphens and must not contain aws, amazon or cognito."
  }
}

variable "app_base_urls" {
  type        = list(string)
  description = "Base URLs of the web app, e.g. [\"https://imgcap.example.com\"]. Callback URL is <base>/auth/callback, logout URL <base>/."

  validation {
    condition     = length(var.app_base_urls) > 0 && alltrue([for u in var.app_base_urls : can(regex("^(https://[a-z0-9.-]+(:[0-9]+)?|http://localhost(:[0-9]+)?)$", u))])
    error_message = "app_base_urls must be non-empty https:// origins without a trailing slash (http://localhost is allowed for development)."
  }
}

variable "allow_self_signup" {
  type        = bool
  description = "Let people sign up with their email address on the hosted UI. False: only admins create users."
  default     = true
}

variable "advanced_security_mode" {
  type        = string
  description = "Cognito threat protection (advanced security): OFF, AUDIT or ENFORCED. Anything but OFF needs the PLUS feature plan, which this module then selects."
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.advanced_security_mode)
    error_message = "advanced_security_mode must be OFF, AUDIT or ENFORCED."
  }
}

variable "set_feature_plan" {
  type        = bool
  description = "Set the user pool feature plan (user_pool_tier) explicitly. Only the AWS emulator test turns this off, because the emulator does not know feature plans."
  default     = true
}

variable "mfa_configuration" {
  type        = string
  description = "MFA for the user pool: OFF, OPTIONAL (users may add TOTP) or ON."
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "OPTIONAL", "ON"], var.mfa_configuration)
    error_message = "mfa_configuration must be OFF, OPTIONAL or ON."
  }
}

variable "password_minimum_length" {
  type        = number
  description = "Minimum password length (12 or more)."
  default     = 12

  validation {
    condition     = var.password_minimum_length >= 12 && var.password_minimum_length <= 99
    error_message = "password_minimum_length must be between 12 and 99."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse deleting the user pool while true."
  default     = true
}

variable "social_identity_providers" {
  type = map(object({
    provider_type    = string
    client_id        = string
    authorize_scopes = optional(string, "openid email profile")
    oidc_issuer      = optional(string)
  }))
  description = "Optional social/OIDC identity providers keyed by provider name (e.g. \"Google\"). Their client secrets go in social_identity_provider_secrets."
  default     = {}

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : contains(["Google", "Facebook", "LoginWithAmazon", "SignInWithApple", "OIDC"], p.provider_type)])
    error_message = "provider_type must be one of Google, Facebook, LoginWithAmazon, SignInWithApple, OIDC."
  }

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : p.provider_type != "OIDC" || p.oidc_issuer != null])
    error_message = "OIDC providers need oidc_issuer."
  }
}

variable "social_identity_provider_secrets" {
  type        = map(string)
  description = "Client secrets of the social identity providers, keyed like social_identity_providers. Pass them as TF_VAR_social_identity_provider_secrets, never in a committed file. They end up in the (encrypted) state."
  default     = {}
  sensitive   = true
}

variable "access_token_validity_minutes" {
  type        = number
  description = "Lifetime of access and ID tokens in minutes."
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440
    error_message = "access_token_validity_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_validity_days" {
  type        = number
  description = "Lifetime of refresh tokens in days."
  default     = 30

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650
    error_message = "refresh_token_validity_days must be between 1 and 3650."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the user pool."
  default     = {}
}
