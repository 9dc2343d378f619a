//! Who is who: local accounts with their sign-up policy and sign-in throttle, personal API
//! tokens, the signing keys of the app's own tokens, and sign-in with an OpenID provider.

pub mod api_tokens;
pub mod local_accounts;
pub mod oidc;
pub mod sign_in_throttle;
pub mod sign_up;
pub mod signing;
