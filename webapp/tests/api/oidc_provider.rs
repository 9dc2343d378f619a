//! An OpenID provider on loopback, shaped like Cognito: discovery document, key set at
//! `/<pool>/.well-known/jwks.json`, `/oauth2/authorize` (answers at once with a redirect, as the
//! hosted UI does after the person signs in), and `/oauth2/token`, which checks the code, the
//! redirect URL, the client secret and the PKCE verifier before it hands out RS256-signed ID and
//! access tokens. Tests can spoil the next ID token, rotate keys and count key-set fetches.
//!
//! The RSA keys under `fixtures/` are test-only keys generated for these tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use imgcap_webapp::auth::oidc::OidcSettings;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::url::{form_urlencoded, Url};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};
use sha2::Digest;

pub const CLIENT_ID: &str = "imgcap-test-client";
pub const CLIENT_SECRET: &str = "imgcap-test-secret";
/// Never contacted: the test reads the redirect instead of following it.
pub const REDIRECT_URL: &str = "http://127.0.0.1:9/auth/callback";
pub const POOL: &str = "eu-west-1_imgcapTest";
/// The issuer of the Cognito-shaped set-up: the real AWS form, served from loopback.
pub const COGNITO_ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_imgcapTest";

/// An RSA key from `fixtures/`, published (or not) under `kid`.
pub struct TestKey {
    kid: String,
    key: CoreRsaPrivateSigningKey,
}

impl TestKey {
    pub fn load(file: &str, kid: &str) -> Arc<Self> {
        let path = format!(
            "{}/tests/api/fixtures/{file}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        let pem = std::fs::read_to_string(&path).unwrap();
        let key =
            CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.into()))).unwrap();
        Arc::new(Self {
            kid: kid.into(),
            key,
        })
    }
    pub fn a() -> Arc<Self> {
        Self::load("signing-key-a", "key-a")
    }
    pub fn b() -> Arc<Self> {
        Self::load("signing-key-b", "key-b")
    }
}

/// A compact JWT: header and claims as given, signed with `key` unless `alg` is `none`.
pub fn mint(header: &Value, claims: &Value, key: &TestKey) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", encode(header), encode(claims));
    let signature = if header["alg"] == "none" {
        Vec::new()
    } else {
        key.key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                input.as_bytes(),
            )
            .unwrap()
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Changes the header and claims of the next ID tokens.
type Tamper = Box<dyn Fn(&mut Value, &mut Value) + Send + Sync>;

struct Grant {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
}

struct Shared {
    base: String,
    issuer: String,
    published: Mutex<Vec<Arc<TestKey>>>,
    signer: Mutex<Arc<TestKey>>,
    /// `sub` and `cognito:groups` of the person who signs in next.
    user: Mutex<(String, Vec<String>)>,
    grants: Mutex<HashMap<String, Grant>>,
    tamper: Mutex<Option<Tamper>>,
    redirect_token_requests: Mutex<bool>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    stolen_requests: AtomicUsize,
}

pub struct TestProvider {
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestProvider {
    /// A provider whose issuer is its own base URL (discovery works as with real Cognito).
    pub async fn start() -> Self {
        Self::start_with_issuer(None).await
    }

    /// A provider whose tokens carry [`COGNITO_ISSUER`], as AWS emulators do.
    pub async fn start_cognito_shaped() -> Self {
        Self::start_with_issuer(Some(COGNITO_ISSUER.into())).await
    }

    async fn start_with_issuer(issuer: Option<String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            issuer: issuer.unwrap_or_else(|| base.clone()),
            base: base.clone(),
            published: Mutex::new(vec![TestKey::a()]),
            signer: Mutex::new(TestKey::a()),
            user: Mutex::new(("5f0c7a52-user-one".into(), Vec::new())),
            grants: Mutex::new(HashMap::new()),
            tamper: Mutex::new(None),
            redirect_token_requests: Mutex::new(false),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            stolen_requests: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/{pool}/.well-known/jwks.json", get(jwks))
            .route("/oauth2/authorize", get(authorize))
            .route("/oauth2/token", post(token))
            .route("/steal", post(steal))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            shared,
            server,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Settings that find the endpoints through the discovery document.
    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.shared.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: REDIRECT_URL.into(),
            ..OidcSettings::default()
        }
    }

    /// Settings with every endpoint explicit, the key set at the pool's path (no discovery).
    pub fn explicit_settings(&self) -> OidcSettings {
        OidcSettings {
            authorize_url: Some(format!("{}/oauth2/authorize", self.base)),
            token_url: Some(format!("{}/oauth2/token", self.base)),
            jwks_url: Some(format!("{}/{POOL}/.well-known/jwks.json", self.base)),
            ..self.settings()
        }
    }

    pub fn set_user(&self, sub: &str, groups: &[&str]) {
        *self.shared.user.lock().unwrap() =
            (sub.into(), groups.iter().map(|g| g.to_string()).collect());
    }

    /// Spoils every ID token from now on.
    pub fn tamper_id_tokens(
        &self,
        tamper: impl Fn(&mut Value, &mut Value) + Send + Sync + 'static,
    ) {
        *self.shared.tamper.lock().unwrap() = Some(Box::new(tamper));
    }

    /// Signs tokens with `key` without publishing it.
    pub fn sign_with(&self, key: Arc<TestKey>) {
        *self.shared.signer.lock().unwrap() = key;
    }

    /// Publishes only `key` and signs with it.
    pub fn rotate_to(&self, key: Arc<TestKey>) {
        *self.shared.published.lock().unwrap() = vec![key.clone()];
        self.sign_with(key);
    }

    /// Makes the token endpoint answer with a redirect to `/steal`.
    pub fn redirect_token_requests(&self) {
        *self.shared.redirect_token_requests.lock().unwrap() = true;
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }
    pub fn stolen_requests(&self) -> usize {
        self.shared.stolen_requests.load(Ordering::SeqCst)
    }

    /// Plays the browser at the hosted UI: opens the authorization URL and returns the code and
    /// state of the redirect back to the app.
    pub async fn authorize(&self, url: &Url) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        let location = Url::parse(
            response.headers()[header::LOCATION.as_str()]
                .to_str()
                .unwrap(),
        )
        .unwrap();
        assert!(location.as_str().starts_with(REDIRECT_URL), "{location}");
        let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
        (query["code"].clone(), query["state"].clone())
    }

    /// The claims of an access token for the current user, as Cognito issues them.
    pub fn access_claims(&self) -> Value {
        access_claims(&self.shared)
    }

    /// An access token with `claims`, signed by the current signing key.
    pub fn access_token(&self, claims: &Value) -> String {
        let key = self.shared.signer.lock().unwrap().clone();
        mint(&json!({"alg": "RS256", "kid": key.kid}), claims, &key)
    }
}

fn access_claims(shared: &Shared) -> Value {
    let (sub, groups) = shared.user.lock().unwrap().clone();
    json!({
        "iss": shared.issuer,
        "sub": sub,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "openid email",
        "cognito:groups": groups,
        "username": "someone",
        "iat": now(),
        "exp": now() + 3600,
    })
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let base = &shared.base;
    Json(json!({
        "issuer": shared.issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/{POOL}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>, Path(pool): Path<String>) -> Response {
    if pool != POOL {
        return StatusCode::NOT_FOUND.into_response();
    }
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = shared
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|k| serde_json::to_value(k.key.as_verification_key()).unwrap())
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

fn refuse(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    if param("response_type") != "code" || param("client_id") != CLIENT_ID {
        return refuse("unauthorized_client", "wrong response_type or client_id");
    }
    if param("code_challenge_method") != "S256" || param("code_challenge").is_empty() {
        return refuse("invalid_request", "PKCE with S256 is required");
    }
    if param("state").is_empty() || param("nonce").is_empty() {
        return refuse("invalid_request", "state and nonce are required");
    }
    if !param("scope").split(' ').any(|s| s == "openid") {
        return refuse("invalid_scope", "openid is required");
    }
    let code = ulid::Ulid::new().to_string();
    shared.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: param("nonce").into(),
            code_challenge: param("code_challenge").into(),
            redirect_uri: param("redirect_uri").into(),
        },
    );
    let mut back = Url::parse(param("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", param("state"));
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    if *shared.redirect_token_requests.lock().unwrap() {
        let to = format!("{}/steal", shared.base);
        return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return refuse("invalid_client", "client authentication failed");
    }
    if field("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type", "only authorization_code");
    }
    // Codes are single-use.
    let Some(grant) = shared.grants.lock().unwrap().remove(field("code")) else {
        return refuse("invalid_grant", "unknown or used code");
    };
    if field("redirect_uri") != grant.redirect_uri {
        return refuse(
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        );
    }
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier")));
    if challenge != grant.code_challenge {
        return refuse("invalid_grant", "PKCE verification failed");
    }
    let (sub, groups) = shared.user.lock().unwrap().clone();
    let key = shared.signer.lock().unwrap().clone();
    let mut id_header = json!({"alg": "RS256", "kid": key.kid});
    let mut id_claims = json!({
        "iss": shared.issuer,
        "sub": sub,
        "aud": CLIENT_ID,
        "token_use": "id",
        "nonce": grant.nonce,
        "cognito:groups": groups,
        "email": "someone@imgcap.invalid",
        "auth_time": now(),
        "iat": now(),
        "exp": now() + 3600,
    });
    if let Some(tamper) = shared.tamper.lock().unwrap().as_ref() {
        tamper(&mut id_header, &mut id_claims);
    }
    Json(json!({
        "id_token": mint(&id_header, &id_claims, &key),
        "access_token": mint(&json!({"alg": "RS256", "kid": key.kid}), &access_claims(&shared), &key),
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
    .into_response()
}

/// Where a redirected token request would land; counted so a test can prove none does.
async fn steal(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.stolen_requests.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}
