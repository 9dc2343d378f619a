//! [`TokenStore`](imgcap_webapp::core::ports::TokenStore) through the personal-token authenticator:
//! a token authenticates its owner until revoked, lists only to its owner, and only its owner
//! can revoke it.

use std::sync::Arc;

use imgcap_webapp::auth::api_tokens::TokenAuthenticator;
use imgcap_webapp::core::ports::Authenticator;

use super::{user, Adapters};

contract!(
    a_token_authenticates_its_owner_until_revoked,
    only_the_owner_lists_and_revokes_a_token,
    a_token_with_a_lifetime_stops_working_when_it_expires,
);

async fn a_token_authenticates_its_owner_until_revoked(adapters: Adapters) {
    let tokens = TokenAuthenticator::new(Arc::clone(&adapters.tokens));
    let (owner, admin) = (user(), user());
    let token = tokens.create_token(&owner, false).await.unwrap();
    let admin_token = tokens.create_token(&admin, true).await.unwrap();
    let principal = tokens.authenticate(&token).await.unwrap().unwrap();
    assert_eq!((principal.user, principal.admin), (owner.clone(), false));
    assert!(
        tokens
            .authenticate(&admin_token)
            .await
            .unwrap()
            .unwrap()
            .admin
    );
    // Same shape, never issued.
    let forged = format!("imgcap_{}", "A".repeat(43));
    assert_eq!(tokens.authenticate(&forged).await.unwrap(), None);

    let listed = tokens.list_tokens(&owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(tokens.revoke_token(&owner, &listed[0].id).await.unwrap());
    assert_eq!(tokens.authenticate(&token).await.unwrap(), None);
    assert!(!tokens.revoke_token(&owner, &listed[0].id).await.unwrap());
    assert!(tokens.list_tokens(&owner).await.unwrap().is_empty());
}

async fn only_the_owner_lists_and_revokes_a_token(adapters: Adapters) {
    let tokens = TokenAuthenticator::new(Arc::clone(&adapters.tokens));
    let (owner, stranger) = (user(), user());
    let first = tokens.create_token(&owner, false).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    tokens.create_token(&owner, false).await.unwrap();
    let listed = tokens.list_tokens(&owner).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].created_ms >= listed[1].created_ms, "newest first");
    assert!(tokens.list_tokens(&stranger).await.unwrap().is_empty());
    for token in &listed {
        assert!(!tokens.revoke_token(&stranger, &token.id).await.unwrap());
    }
    assert!(
        tokens.authenticate(&first).await.unwrap().is_some(),
        "a stranger's revocation changed nothing"
    );
}

async fn a_token_with_a_lifetime_stops_working_when_it_expires(adapters: Adapters) {
    let lifetime = std::time::Duration::from_millis(300);
    let tokens =
        TokenAuthenticator::new(Arc::clone(&adapters.tokens)).with_lifetime(Some(lifetime));
    let owner = user();
    let token = tokens.create_token(&owner, false).await.unwrap();
    let listed = tokens.list_tokens(&owner).await.unwrap();
    assert_eq!(
        listed[0].expires_ms,
        Some(listed[0].created_ms + 300),
        "the expiry is stored"
    );
    assert!(tokens.authenticate(&token).await.unwrap().is_some());
    assert!(!tokens.expired(&token).await.unwrap());
    tokio::time::sleep(lifetime).await;
    assert_eq!(tokens.authenticate(&token).await.unwrap(), None);
    assert!(tokens.expired(&token).await.unwrap());
    // Without a lifetime a token never expires.
    let forever = TokenAuthenticator::new(Arc::clone(&adapters.tokens));
    forever.create_token(&owner, false).await.unwrap();
    let listed = forever.list_tokens(&owner).await.unwrap();
    assert_eq!(listed[0].expires_ms, None);
}
