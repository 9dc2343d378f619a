//! OIDC sign-in (Cognito hosted UI) and Cognito access tokens, against the loopback provider of
//! `oidc_provider`.

use std::collections::HashMap;

use imgcap_webapp::auth::oidc::{OidcClient, OidcError, OidcSettings, PendingLogin, Rejection};
use imgcap_webapp::core::ports::Authenticator;
use serde_json::{json, Value};

use crate::oidc_provider::{
    mint, now, TestKey, TestProvider, CLIENT_ID, COGNITO_ISSUER, REDIRECT_URL,
};

async fn connect(settings: &OidcSettings) -> OidcClient {
    OidcClient::connect(settings).await.unwrap()
}

/// One sign-in from start to callback.
async fn sign_in(
    provider: &TestProvider,
    client: &OidcClient,
) -> Result<imgcap_webapp::core::domain::Principal, OidcError> {
    let (url, pending) = client.begin_login();
    let (code, state) = provider.authorize(&url).await;
    client.complete_login(pending, &state, &code).await
}

/// The sign-in is refused and the ID token's rejection is `expected`.
async fn assert_id_token_refused(
    provider: &TestProvider,
    client: &OidcClient,
    expected: Rejection,
) {
    match sign_in(provider, client).await {
        Err(OidcError::IdTokenRejected(rejection)) => assert_eq!(rejection, expected),
        other => panic!("expected the ID token to be refused ({expected}), got {other:?}"),
    }
}

#[tokio::test]
async fn sign_in_completes_with_pkce_state_and_nonce_and_admin_group_makes_an_admin() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;

    let (url, _) = client.begin_login();
    let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], REDIRECT_URL);
    assert_eq!(query["scope"], "openid email");
    assert!(!query["state"].is_empty() && !query["nonce"].is_empty());

    provider.set_user("8d2f-member", &["editors"]);
    let member = sign_in(&provider, &client).await.unwrap();
    assert_eq!(member.user.as_str(), "8d2f-member");
    assert!(!member.admin);

    provider.set_user("91ab-admin", &["editors", "admin"]);
    let admin = sign_in(&provider, &client).await.unwrap();
    assert_eq!(admin.user.as_str(), "91ab-admin");
    assert!(admin.admin);
    assert_eq!(provider.discovery_fetches(), 1);
}

#[tokio::test]
async fn cognito_shaped_provider_works_with_explicit_endpoints_and_its_own_key_set_url() {
    let provider = TestProvider::start_cognito_shaped().await;
    assert_eq!(provider.issuer(), COGNITO_ISSUER);
    let client = connect(&provider.explicit_settings()).await;
    let principal = sign_in(&provider, &client).await.unwrap();
    assert_eq!(principal.user.as_str(), "5f0c7a52-user-one");
    assert_eq!(provider.discovery_fetches(), 0);
    assert_eq!(provider.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused_at_start() {
    let provider = TestProvider::start().await;
    let settings = OidcSettings {
        metadata_url: Some(format!(
            "{}/.well-known/openid-configuration",
            provider.base
        )),
        issuer: COGNITO_ISSUER.into(),
        ..provider.settings()
    };
    let err = OidcClient::connect(&settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("oidc.issuer"), "{err}");
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    // The attacker's key, presented under the id of the provider's real key.
    provider.sign_with(TestKey::load("attacker-key", "key-a"));
    assert_id_token_refused(&provider, &client, Rejection::BadSignature).await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.tamper_id_tokens(|_, claims| claims["aud"] = json!("some-other-client"));
    assert_id_token_refused(&provider, &client, Rejection::WrongAudience).await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.tamper_id_tokens(|_, claims| {
        claims["iat"] = json!(now() - 7200);
        claims["exp"] = json!(now() - 3600);
    });
    assert_id_token_refused(&provider, &client, Rejection::Expired).await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.tamper_id_tokens(|header, _| header["alg"] = json!("none"));
    assert_id_token_refused(
        &provider,
        &client,
        Rejection::DisallowedAlgorithm("none".into()),
    )
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.tamper_id_tokens(|_, claims| claims["iss"] = json!(COGNITO_ISSUER));
    assert_id_token_refused(&provider, &client, Rejection::WrongIssuer).await;
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.tamper_id_tokens(|_, claims| claims["nonce"] = json!("a-nonce-from-another-sign-in"));
    assert_id_token_refused(&provider, &client, Rejection::WrongNonce).await;
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    let (url, pending) = client.begin_login();
    let (code, state) = provider.authorize(&url).await;
    client
        .complete_login(pending.clone(), &state, &code)
        .await
        .unwrap();

    // The same callback again, and the same state with a fresh code from the provider.
    let replay = client.complete_login(pending.clone(), &state, &code).await;
    assert!(
        matches!(replay, Err(OidcError::StateReplayed)),
        "{replay:?}"
    );
    let (fresh_code, _) = provider.authorize(&url).await;
    let replay = client.complete_login(pending, &state, &fresh_code).await;
    assert!(
        matches!(replay, Err(OidcError::StateReplayed)),
        "{replay:?}"
    );
}

#[tokio::test]
async fn a_state_from_another_sign_in_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    let (_, victim_pending) = client.begin_login();
    let (attacker_url, _) = client.begin_login();
    let (code, attacker_state) = provider.authorize(&attacker_url).await;
    let result = client
        .complete_login(victim_pending, &attacker_state, &code)
        .await;
    assert!(
        matches!(result, Err(OidcError::StateMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_sign_in_that_took_too_long_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&OidcSettings {
        login_timeout_secs: 300,
        ..provider.settings()
    })
    .await;
    let (url, pending) = client.begin_login();
    let (code, state) = provider.authorize(&url).await;
    // As if the pending login had come back from a cookie set ten minutes ago.
    let mut stored: Value = serde_json::to_value(&pending).unwrap();
    stored["started_at"] = json!(now() - 600);
    let old: PendingLogin = serde_json::from_value(stored).unwrap();
    let result = client.complete_login(old, &state, &code).await;
    assert!(matches!(result, Err(OidcError::LoginExpired)), "{result:?}");
}

#[tokio::test]
async fn a_code_the_provider_does_not_know_is_refused() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    let (url, pending) = client.begin_login();
    let (_, state) = provider.authorize(&url).await;
    let result = client.complete_login(pending, &state, "made-up-code").await;
    match result {
        Err(err @ OidcError::CodeRejected(_)) => {
            assert!(err.to_string().contains("invalid_grant"), "{err}");
            assert!(!err.public_message().contains("invalid_grant"));
        }
        other => panic!("expected the code to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_from_the_token_endpoint_are_not_followed() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    provider.redirect_token_requests();
    let result = sign_in(&provider, &client).await;
    assert!(
        matches!(result, Err(OidcError::BadTokenResponse(_))),
        "{result:?}"
    );
    assert_eq!(provider.stolen_requests(), 0);
}

#[tokio::test]
async fn an_unknown_key_id_refreshes_the_key_set_after_a_rotation() {
    let provider = TestProvider::start().await;
    let client = connect(&OidcSettings {
        jwks_refresh_min_interval_secs: 0,
        ..provider.settings()
    })
    .await;
    sign_in(&provider, &client).await.unwrap();
    assert_eq!(provider.jwks_fetches(), 1);

    provider.rotate_to(TestKey::b());
    sign_in(&provider, &client).await.unwrap();
    assert_eq!(provider.jwks_fetches(), 2, "one refetch for the new key id");
    // Bearer tokens share the refreshed cache.
    let verifier = client.access_token_verifier();
    let token = provider.access_token(&provider.access_claims());
    verifier.verify(&token).await.unwrap();
    assert_eq!(provider.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_does_not_hammer_the_provider() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    let verifier = client.access_token_verifier();
    assert_eq!(provider.jwks_fetches(), 1);
    for i in 0..20 {
        provider.sign_with(TestKey::load("signing-key-b", &format!("made-up-{i}")));
        let token = provider.access_token(&provider.access_claims());
        assert_eq!(verifier.verify(&token).await, Err(Rejection::UnknownKey));
    }
    // The key set was fetched at start, less than the minimum interval (60 s) ago.
    assert_eq!(provider.jwks_fetches(), 1);
}

#[tokio::test]
async fn access_tokens_authenticate_api_callers() {
    let provider = TestProvider::start().await;
    let client = connect(&provider.settings()).await;
    let verifier = client.access_token_verifier();

    provider.set_user("c3d4-api-user", &["admin"]);
    let token = provider.access_token(&provider.access_claims());
    let principal = verifier.authenticate(&token).await.unwrap().unwrap();
    assert_eq!(principal.user.as_str(), "c3d4-api-user");
    assert!(principal.admin);

    provider.set_user("c3d4-api-user", &[]);
    let token = provider.access_token(&provider.access_claims());
    assert!(!verifier.verify(&token).await.unwrap().admin);
}

#[tokio::test]
async fn access_tokens_that_are_not_ours_are_refused() {
    let provider = TestProvider::start_cognito_shaped().await;
    let client = connect(&provider.explicit_settings()).await;
    let verifier = client.access_token_verifier();
    let valid = provider.access_claims();
    let with = |key: &str, value: Value| {
        let mut claims = valid.clone();
        claims[key] = value;
        claims
    };
    let key_a = TestKey::a();
    let cases: Vec<(String, Rejection)> = vec![
        (
            provider.access_token(&with("token_use", json!("id"))),
            Rejection::WrongTokenUse,
        ),
        (
            provider.access_token(&with("client_id", json!("another-app-client"))),
            Rejection::WrongClient,
        ),
        (
            provider.access_token(&with("exp", json!(now() - 1))),
            Rejection::Expired,
        ),
        (
            provider.access_token(&with("iss", json!("https://attacker.invalid/pool"))),
            Rejection::WrongIssuer,
        ),
        (
            mint(
                &json!({"alg": "RS256", "kid": "key-a"}),
                &valid,
                &TestKey::load("attacker-key", "key-a"),
            ),
            Rejection::BadSignature,
        ),
        (
            mint(&json!({"alg": "none", "kid": "key-a"}), &valid, &key_a),
            Rejection::DisallowedAlgorithm("none".into()),
        ),
        (
            mint(&json!({"alg": "HS256", "kid": "key-a"}), &valid, &key_a),
            Rejection::DisallowedAlgorithm("HS256".into()),
        ),
        (
            "imgcap_not-a-jwt".into(),
            Rejection::Malformed("not a JSON Web Token".into()),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(verifier.verify(&token).await, Err(expected.clone()));
        assert_eq!(
            verifier.authenticate(&token).await.unwrap(),
            None,
            "{expected}"
        );
    }

    // An ID token is not an access token, even though it is validly signed.
    let mut id_claims = valid.clone();
    id_claims["token_use"] = json!("id");
    id_claims["aud"] = json!(CLIENT_ID);
    id_claims.as_object_mut().unwrap().remove("client_id");
    let id_token = provider.access_token(&id_claims);
    assert_eq!(
        verifier.verify(&id_token).await,
        Err(Rejection::WrongTokenUse)
    );
}

#[tokio::test]
async fn sign_out_url_ends_the_cognito_session() {
    let provider = TestProvider::start().await;
    assert!(connect(&provider.settings()).await.logout_url().is_none());
    let client = connect(&OidcSettings {
        logout_url: Some("https://auth.imgcap.invalid/logout".into()),
        logout_redirect_url: Some("https://imgcap.invalid/".into()),
        ..provider.settings()
    })
    .await;
    assert_eq!(
        client.logout_url().unwrap().as_str(),
        format!(
            "https://auth.imgcap.invalid/logout?client_id={CLIENT_ID}&logout_uri=https%3A%2F%2Fimgcap.invalid%2F"
        )
    );
}

/// The provider's answers are read up to 1 MiB: a discovery document past it fails the start
/// instead of being buffered whole.
#[tokio::test]
async fn an_oversized_discovery_document_is_refused_at_start() {
    let provider = TestProvider::start().await;
    let huge = format!("{{\"padding\": \"{}\"}}", " ".repeat(2 << 20));
    let router = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || async move { huge }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let settings = OidcSettings {
        metadata_url: Some(format!("{base}/.well-known/openid-configuration")),
        ..provider.settings()
    };
    let err = OidcClient::connect(&settings).await.err().unwrap();
    let err = format!("{err:#}");
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
}
