//! Sign-in with an OpenID Connect provider — Amazon Cognito's hosted UI in AWS mode.
//!
//! - [`OidcClient`]: the authorization-code flow with PKCE (S256), state and nonce. The routes
//!   call [`OidcClient::begin_login`], keep the [`PendingLogin`] where the browser cannot change
//!   it (a signed cookie or the session), and hand it back to [`OidcClient::complete_login`]
//!   with the callback's `state` and `code`.
//! - [`AccessTokenVerifier`]: the REST API's [`crate::core::ports::Authenticator`] for Cognito access
//!   tokens sent as bearer tokens.
//!
//! Both verify RS256 signatures against the provider's key set, cached and refreshed when a
//! token names an unknown key id. Every HTTP call to the provider goes through one client that
//! does not follow redirects, so a redirect can never carry a code or secret elsewhere.

mod access;
mod keys;
mod login;
mod settings;

pub use access::AccessTokenVerifier;
pub use login::{OidcClient, PendingLogin};
pub use settings::{OidcSettings, SecretString};

use openidconnect::{ClaimsVerificationError, SignatureVerificationError};

use crate::core::domain::{Principal, UserId};

/// Why a token was refused. Logged with the request; the tests match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the signature does not verify")]
    BadSignature,
    #[error("signed with a key id the provider does not publish")]
    UnknownKey,
    #[error("signed with a disallowed algorithm ({0}); only RS256 is accepted")]
    DisallowedAlgorithm(String),
    #[error("issued for another client (audience)")]
    WrongAudience,
    #[error("issued by another issuer")]
    WrongIssuer,
    #[error("expired")]
    Expired,
    #[error("the nonce is not the one this sign-in sent")]
    WrongNonce,
    #[error("not an access token (`token_use`)")]
    WrongTokenUse,
    #[error("issued to another app client (`client_id`)")]
    WrongClient,
    #[error("malformed: {0}")]
    Malformed(String),
}

impl From<ClaimsVerificationError> for Rejection {
    fn from(err: ClaimsVerificationError) -> Self {
        match err {
            ClaimsVerificationError::Expired(_) => Self::Expired,
            ClaimsVerificationError::InvalidAudience(_) => Self::WrongAudience,
            ClaimsVerificationError::InvalidIssuer(_) => Self::WrongIssuer,
            ClaimsVerificationError::InvalidNonce(_) => Self::WrongNonce,
            ClaimsVerificationError::SignatureVerification(err) => match err {
                SignatureVerificationError::NoMatchingKey => Self::UnknownKey,
                SignatureVerificationError::NoSignature => Self::DisallowedAlgorithm("none".into()),
                SignatureVerificationError::DisallowedAlg(alg)
                | SignatureVerificationError::UnsupportedAlg(alg) => Self::DisallowedAlgorithm(alg),
                _ => Self::BadSignature,
            },
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// Why a sign-in did not complete. [`Self::public_message`] is what the person sees; the
/// variant (with its cause) goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the callback's state is not the one this browser's sign-in sent")]
    StateMismatch,
    #[error("the callback's state was already used")]
    StateReplayed,
    #[error("the sign-in started too long ago")]
    LoginExpired,
    #[error("too many sign-ins are in progress")]
    Busy,
    #[error("the identity provider refused the authorization code: {0}")]
    CodeRejected(String),
    #[error("the identity provider's token response cannot be used: {0}")]
    BadTokenResponse(String),
    #[error("the ID token was refused: {0}")]
    IdTokenRejected(#[from] Rejection),
    #[error("the identity provider cannot be reached: {0:#}")]
    Unavailable(anyhow::Error),
}

impl OidcError {
    /// A sentence for the person signing in; never the cause.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::StateMismatch | Self::StateReplayed | Self::LoginExpired => {
                "This sign-in link has expired or was already used. Please sign in again."
            }
            Self::CodeRejected(_) | Self::BadTokenResponse(_) | Self::IdTokenRejected(_) => {
                "Sign-in could not be completed. Please try again."
            }
            Self::Busy | Self::Unavailable(_) => {
                "Sign-in is unavailable right now. Please try again in a moment."
            }
        }
    }

    /// `snake_case` kind for JSON error bodies and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StateMismatch | Self::StateReplayed | Self::LoginExpired => "sign_in_expired",
            Self::CodeRejected(_) | Self::BadTokenResponse(_) | Self::IdTokenRejected(_) => {
                "sign_in_failed"
            }
            Self::Busy | Self::Unavailable(_) => "sign_in_unavailable",
        }
    }
}

/// The signed-in user of a verified token: its `sub` and whether `cognito:groups` holds the
/// admin group.
fn principal(subject: &str, groups: &[String], admin_group: &str) -> Result<Principal, Rejection> {
    let user: UserId = subject.parse().map_err(|_| {
        Rejection::Malformed(format!("the subject `{subject}` is not a usable user id"))
    })?;
    Ok(Principal {
        user,
        admin: groups.iter().any(|g| g == admin_group),
    })
}

/// The `cognito:groups` claim, present on Cognito's ID and access tokens of group members.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
struct CognitoGroups {
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

impl openidconnect::AdditionalClaims for CognitoGroups {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_membership_of_the_configured_group() {
        let groups = vec!["editors".to_string(), "admin".to_string()];
        let p = principal("0b5e-4c1d", &groups, "admin").unwrap();
        assert_eq!(p.user.as_str(), "0b5e-4c1d");
        assert!(p.admin);
        assert!(!principal("0b5e-4c1d", &groups, "staff").unwrap().admin);
        assert!(!principal("0b5e-4c1d", &[], "admin").unwrap().admin);
        assert!(matches!(
            principal("../etc", &groups, "admin"),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn verification_errors_map_to_rejections() {
        use ClaimsVerificationError as E;
        use SignatureVerificationError as S;
        let cases = [
            (E::Expired("x".into()), Rejection::Expired),
            (E::InvalidAudience("x".into()), Rejection::WrongAudience),
            (E::InvalidIssuer("x".into()), Rejection::WrongIssuer),
            (E::InvalidNonce("x".into()), Rejection::WrongNonce),
            (
                E::SignatureVerification(S::NoMatchingKey),
                Rejection::UnknownKey,
            ),
            (
                E::SignatureVerification(S::CryptoError("x".into())),
                Rejection::BadSignature,
            ),
            (
                E::SignatureVerification(S::NoSignature),
                Rejection::DisallowedAlgorithm("none".into()),
            ),
        ];
        for (err, rejection) in cases {
            assert_eq!(Rejection::from(err), rejection);
        }
    }

    #[test]
    fn public_messages_do_not_carry_causes() {
        let err = OidcError::CodeRejected("invalid_grant: code for client 42".into());
        assert!(!err.public_message().contains("invalid_grant"));
        assert_eq!(err.kind(), "sign_in_failed");
        assert_eq!(OidcError::StateReplayed.kind(), "sign_in_expired");
    }
}
