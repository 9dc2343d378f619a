//! `[oidc]`: sign-in with an OpenID provider. The section's type and validation live with the
//! sign-in code (`crate::auth::oidc::OidcSettings`); only its variables are listed here.

use super::env::EnvKind;

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("oidc.issuer", EnvKind::Str),
    ("oidc.client_id", EnvKind::Str),
    ("oidc.client_secret", EnvKind::Str),
    ("oidc.redirect_url", EnvKind::Str),
    ("oidc.metadata_url", EnvKind::Str),
    ("oidc.authorize_url", EnvKind::Str),
    ("oidc.token_url", EnvKind::Str),
    ("oidc.jwks_url", EnvKind::Str),
    ("oidc.scopes", EnvKind::List),
    ("oidc.logout_url", EnvKind::Str),
    ("oidc.logout_redirect_url", EnvKind::Str),
    ("oidc.admin_group", EnvKind::Str),
    ("oidc.login_timeout_secs", EnvKind::Int),
    ("oidc.jwks_refresh_min_interval_secs", EnvKind::Int),
];
