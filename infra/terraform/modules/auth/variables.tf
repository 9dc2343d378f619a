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
    secret_id        = string
    authorize_scopes = optional(string)
    oidc_issuer      = optional(string)
    team_id          = optional(string)
    key_id           = optional(string)
  }))
  description = "Optional social/OIDC identity providers keyed by provider name (e.g. \"Google\"). secret_id is the name or ARN of a Secrets Manager secret holding the client secret (for SignInWithApple: the private key in PEM form, and team_id and key_id are required). authorize_scopes defaults per provider type. Empty: no providers."
  default     = {}

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : contains(["Google", "Facebook", "LoginWithAmazon", "SignInWithApple", "OIDC"], p.provider_type)])
    error_message = "provider_type must be one of Google, Facebook, LoginWithAmazon, SignInWithApple, OIDC."
  }

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : p.provider_type != "OIDC" || can(regex("^https://", p.oidc_issuer))])
    error_message = "OIDC providers need oidc_issuer (an https:// URL)."
  }

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : p.provider_type != "SignInWithApple" || (can(regex("^[A-Z0-9]{10}$", p.team_id)) && can(regex("^[A-Z0-9]{10}$", p.key_id)))])
    error_message = "SignInWithApple providers need team_id and key_id (10 upper-case letters and digits each, from the Apple developer account)."
  }

  validation {
    condition     = alltrue([for p in values(var.social_identity_providers) : can(regex("^[A-Za-z0-9/_+=.@:-]+$", p.secret_id)) && trimspace(p.client_id) != ""])
    error_message = "Every provider needs a client_id and a secret_id (the name or ARN of its Secrets Manager secret)."
  }
}

variable "ses_from_identity_arn" {
  type        = string
  description = "ARN of a verified SES identity (email address or domain) Cognito sends its email through (email_sending_account DEVELOPER). Null: Cognito's default sender, about 50 emails a day."
  default     = null

  validation {
    condition     = var.ses_from_identity_arn == null || can(regex("^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/[^/]+$", var.ses_from_identity_arn))
    error_message = "ses_from_identity_arn must be an SES identity ARN: arn:aws:ses:<region>:<account>:identity/<address or domain>."
  }
}

variable "ses_from_address" {
  type        = string
  description = "Sender of Cognito's email through SES, e.g. \"imgcap <no-reply@example.com>\"; required when the SES identity is a domain. Only with ses_from_identity_arn."
  default     = null

  validation {
    condition     = var.ses_from_address == null || can(regex("^([^<>]+ <)?[^@<>\\s]+@[^@<>\\s]+\\.[^@<>\\s]+>?$", var.ses_from_address))
    error_message = "ses_from_address must be an email address, optionally as \"Name <address>\"."
  }

  validation {
    condition     = var.ses_from_address == null || var.ses_from_identity_arn != null
    error_message = "ses_from_address needs ses_from_identity_arn."
  }

  validation {
    condition     = var.ses_from_identity_arn == null || strcontains(try(split("identity/", var.ses_from_identity_arn)[1], ""), "@") || var.ses_from_address != null
    error_message = "A domain SES identity needs ses_from_address (an address in that domain)."
  }
}

variable "ses_reply_to_address" {
  type        = string
  description = "Reply-To address of Cognito's email through SES; null: none. Only with ses_from_identity_arn."
  default     = null

  validation {
    condition     = var.ses_reply_to_address == null || (var.ses_from_identity_arn != null && can(regex("^[^@<>\\s]+@[^@<>\\s]+\\.[^@<>\\s]+$", var.ses_reply_to_address)))
    error_message = "ses_reply_to_address must be an email address and needs ses_from_identity_arn."
  }
}

variable "test_user" {
  type = object({
    email               = string
    password_secret_arn = string
    password_version_id = string
  })
  description = "Optional confirmed user for scripted acceptance tests: its email (the username) and the Secrets Manager secret version holding its generated password. Null: no test user."
  default     = null

  validation {
    condition     = var.test_user == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.test_user.email))
    error_message = "test_user.email must be an email address."
  }

  validation {
    condition     = var.test_user == null || try(var.test_user.password_secret_arn != null && var.test_user.password_version_id != null, false)
    error_message = "test_user needs password_secret_arn and password_version_id (the generated password's secret version)."
  }
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
