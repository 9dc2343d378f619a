//! The `[oidc]` section of the configuration (Cognito hosted UI or any OpenID provider) and its
//! validation into parsed URLs. Errors name the key, like the rest of `crate::config`.

use std::fmt;
use std::time::Duration;

use openidconnect::url::Url;
use openidconnect::{
    AuthUrl, ClientId, ClientSecret, IssuerUrl, JsonWebKeySetUrl, RedirectUrl, TokenUrl,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The `iss` that tokens must carry, e.g.
    /// `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123`.
    pub issuer: String,
    pub client_id: String,
    /// For app clients that have one (Cognito "confidential" clients); sent with HTTP Basic.
    pub client_secret: Option<SecretString>,
    /// Where the provider sends the browser back with the code; registered with the app client.
    pub redirect_url: String,
    /// The discovery document; default `<issuer>/.well-known/openid-configuration`. Not read at
    /// all when `authorize_url`, `token_url` and `jwks_url` are all set.
    pub metadata_url: Option<String>,
    /// Explicit endpoints: each overrides the discovery document's.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub jwks_url: Option<String>,
    /// Asked for at sign-in; `openid` is always asked for.
    pub scopes: Vec<String>,
    /// Cognito's `https://<domain>/logout`; when set, sign-out also ends the hosted UI session.
    pub logout_url: Option<String>,
    /// Where Cognito sends the browser after sign-out (`logout_uri`, one of the app client's
    /// sign-out URLs); required with `logout_url`.
    pub logout_redirect_url: Option<String>,
    /// Members of this Cognito group (`cognito:groups`) get the admin role.
    pub admin_group: String,
    /// How long a started sign-in may take before its callback is refused.
    pub login_timeout_secs: u64,
    /// A token signed with an unknown key id fetches the key set again at most this often.
    pub jwks_refresh_min_interval_secs: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            redirect_url: String::new(),
            metadata_url: None,
            authorize_url: None,
            token_url: None,
            jwks_url: None,
            scopes: vec!["openid".into(), "email".into()],
            logout_url: None,
            logout_redirect_url: None,
            admin_group: "admin".into(),
            login_timeout_secs: 600,
            jwks_refresh_min_interval_secs: 60,
        }
    }
}

/// A secret setting; `{:?}` shows `[redacted]`, so the configuration can be logged.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// [`OidcSettings`] with every URL parsed.
#[derive(Debug, Clone)]
pub(crate) struct ParsedSettings {
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
    pub redirect_url: RedirectUrl,
    /// The discovery document to read; `None` when all three endpoints are configured.
    pub discovery: Option<Url>,
    /// Explicit endpoints, each overriding the discovery document's.
    pub authorize_url: Option<AuthUrl>,
    pub token_url: Option<TokenUrl>,
    pub jwks_url: Option<JsonWebKeySetUrl>,
    pub scopes: Vec<String>,
    /// The full sign-out URL (`logout_url` with `client_id` and `logout_uri`).
    pub logout: Option<Url>,
    pub admin_group: String,
    pub login_timeout: Duration,
    pub jwks_refresh_min_interval: Duration,
}

fn http_url(key: &str, value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("`oidc.{key}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`oidc.{key}` must be an http(s) URL"));
    }
    Ok(url)
}

fn optional_url(key: &str, value: &Option<String>) -> Result<Option<Url>, String> {
    value.as_deref().map(|v| http_url(key, v)).transpose()
}

/// A checked URL as one of the library's URL types, keeping the text exactly as configured:
/// issuers and redirect URLs are compared as strings (`Url` would add a trailing `/` to a bare
/// host).
fn exact<T>(
    key: &str,
    value: &str,
    make: fn(String) -> Result<T, openidconnect::url::ParseError>,
) -> Result<T, String> {
    http_url(key, value)?;
    make(value.to_owned()).map_err(|e| format!("`oidc.{key}` is not a URL ({e})"))
}

fn optional_exact<T>(
    key: &str,
    value: &Option<String>,
    make: fn(String) -> Result<T, openidconnect::url::ParseError>,
) -> Result<Option<T>, String> {
    value.as_deref().map(|v| exact(key, v, make)).transpose()
}

impl OidcSettings {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.parse().map(drop)
    }

    pub(crate) fn parse(&self) -> Result<ParsedSettings, String> {
        for (key, value) in [
            ("issuer", &self.issuer),
            ("client_id", &self.client_id),
            ("redirect_url", &self.redirect_url),
            ("admin_group", &self.admin_group),
        ] {
            if value.trim().is_empty() {
                return Err(format!(
                    "`oidc.{key}` is required when the [oidc] section is present"
                ));
            }
        }
        let issuer = exact("issuer", &self.issuer, IssuerUrl::new)?;
        let redirect_url = exact("redirect_url", &self.redirect_url, RedirectUrl::new)?;
        let authorize_url = optional_exact("authorize_url", &self.authorize_url, AuthUrl::new)?;
        let token_url = optional_exact("token_url", &self.token_url, TokenUrl::new)?;
        let jwks_url = optional_exact("jwks_url", &self.jwks_url, JsonWebKeySetUrl::new)?;
        let discovery = if authorize_url.is_some() && token_url.is_some() && jwks_url.is_some() {
            None
        } else {
            Some(match optional_url("metadata_url", &self.metadata_url)? {
                Some(url) => url,
                None => http_url(
                    "issuer",
                    &format!(
                        "{}/.well-known/openid-configuration",
                        self.issuer.trim_end_matches('/')
                    ),
                )?,
            })
        };
        let logout = match (
            optional_url("logout_url", &self.logout_url)?,
            optional_url("logout_redirect_url", &self.logout_redirect_url)?,
        ) {
            (Some(mut logout), Some(back)) => {
                logout
                    .query_pairs_mut()
                    .append_pair("client_id", &self.client_id)
                    .append_pair("logout_uri", back.as_str());
                Some(logout)
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err("`oidc.logout_redirect_url` is required with `oidc.logout_url`".into())
            }
            (None, Some(_)) => {
                return Err("`oidc.logout_url` is required with `oidc.logout_redirect_url`".into())
            }
        };
        if self.login_timeout_secs == 0 {
            return Err("`oidc.login_timeout_secs` must be greater than 0".into());
        }
        if let Some(scope) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(format!(
                "`oidc.scopes`: `{scope}` is not a scope (one word each)"
            ));
        }
        Ok(ParsedSettings {
            issuer,
            client_id: ClientId::new(self.client_id.clone()),
            client_secret: self
                .client_secret
                .as_ref()
                .filter(|s| !s.expose().is_empty())
                .map(|s| ClientSecret::new(s.expose().to_owned())),
            redirect_url,
            discovery,
            authorize_url,
            token_url,
            jwks_url,
            scopes: self
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned()
                .collect(),
            logout,
            admin_group: self.admin_group.clone(),
            login_timeout: Duration::from_secs(self.login_timeout_secs),
            jwks_refresh_min_interval: Duration::from_secs(self.jwks_refresh_min_interval_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cognito() -> OidcSettings {
        OidcSettings {
            issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool".into(),
            client_id: "client123".into(),
            redirect_url: "https://imgcap.example/auth/callback".into(),
            ..OidcSettings::default()
        }
    }

    #[test]
    fn discovery_defaults_to_the_issuer_well_known_document() {
        let parsed = cognito().parse().unwrap();
        assert_eq!(
            parsed.discovery.as_ref().unwrap().as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool/.well-known/openid-configuration"
        );
        assert!(parsed.logout.is_none());
        assert_eq!(parsed.scopes, ["email"], "openid is added by the client");
    }

    #[test]
    fn explicit_endpoints_skip_discovery() {
        let settings = OidcSettings {
            authorize_url: Some("http://127.0.0.1:5000/oauth2/authorize".into()),
            token_url: Some("http://127.0.0.1:5000/oauth2/token".into()),
            jwks_url: Some("http://127.0.0.1:5000/eu-west-1_Pool/.well-known/jwks.json".into()),
            ..cognito()
        };
        assert!(settings.parse().unwrap().discovery.is_none());
        // Without the key set URL the discovery document is still needed for it.
        let settings = OidcSettings {
            jwks_url: None,
            ..settings
        };
        assert!(settings.parse().unwrap().discovery.is_some());
    }

    #[test]
    fn logout_url_carries_client_id_and_logout_uri() {
        let settings = OidcSettings {
            logout_url: Some("https://auth.imgcap.example/logout".into()),
            logout_redirect_url: Some("https://imgcap.example/?signed_out=1".into()),
            ..cognito()
        };
        assert_eq!(
            settings.parse().unwrap().logout.unwrap().as_str(),
            "https://auth.imgcap.example/logout?client_id=client123&logout_uri=https%3A%2F%2Fimgcap.example%2F%3Fsigned_out%3D1"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases: Vec<(OidcSettings, &str)> = vec![
            (OidcSettings::default(), "oidc.issuer"),
            (
                OidcSettings {
                    client_id: String::new(),
                    ..cognito()
                },
                "oidc.client_id",
            ),
            (
                OidcSettings {
                    redirect_url: "not a url".into(),
                    ..cognito()
                },
                "oidc.redirect_url",
            ),
            (
                OidcSettings {
                    token_url: Some("ftp://x/token".into()),
                    ..cognito()
                },
                "oidc.token_url",
            ),
            (
                OidcSettings {
                    logout_url: Some("https://auth.imgcap.example/logout".into()),
                    ..cognito()
                },
                "oidc.logout_redirect_url",
            ),
            (
                OidcSettings {
                    scopes: vec!["openid email".into()],
                    ..cognito()
                },
                "oidc.scopes",
            ),
            (
                OidcSettings {
                    login_timeout_secs: 0,
                    ..cognito()
                },
                "oidc.login_timeout_secs",
            ),
        ];
        for (settings, key) in cases {
            let err = settings.validate().unwrap_err();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let settings = OidcSettings {
            client_secret: Some("s3cr3t-value".into()),
            ..cognito()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t-value") && shown.contains("[redacted]"));
    }
}
