//! The provider's signing keys (JWKS), cached. A token signed with a key id the cache does not
//! know fetches the set again (the provider rotated its keys), at most once per
//! `min_refresh_interval`, so a flood of made-up key ids cannot hammer the provider.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::JsonWebKeySetUrl;

use super::Rejection;
use crate::adapters::outbound;

pub(crate) struct KeyCache {
    url: JsonWebKeySetUrl,
    http: reqwest::Client,
    min_refresh_interval: Duration,
    keys: RwLock<Arc<CoreJsonWebKeySet>>,
    /// When the set was last fetched (or a fetch last failed); held while fetching, so
    /// concurrent unknown key ids cause one fetch.
    last_fetch: tokio::sync::Mutex<Instant>,
}

impl KeyCache {
    /// Fetches the key set once; fails when the provider does not serve it.
    pub async fn load(
        url: JsonWebKeySetUrl,
        http: reqwest::Client,
        min_refresh_interval: Duration,
    ) -> anyhow::Result<Self> {
        let keys = fetch(&url, &http).await?;
        Ok(Self {
            url,
            http,
            min_refresh_interval,
            keys: RwLock::new(Arc::new(keys)),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    fn current(&self) -> Arc<CoreJsonWebKeySet> {
        self.keys.read().expect("key cache lock poisoned").clone()
    }

    /// Runs `verify` against the cached keys and, when it reports an unknown key, once more
    /// against a freshly fetched set (if the rate limit allows a fetch).
    pub async fn verify_with<T>(
        &self,
        verify: impl Fn(&CoreJsonWebKeySet) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        let seen = self.current();
        match verify(&seen) {
            Err(Rejection::UnknownKey) => match self.refreshed(&seen).await {
                Some(fresh) => verify(&fresh),
                None => Err(Rejection::UnknownKey),
            },
            other => other,
        }
    }

    /// A newer key set than `seen`: fetched now, or by a concurrent caller while this one
    /// waited. `None` when the last fetch is too recent or the fetch fails.
    async fn refreshed(&self, seen: &Arc<CoreJsonWebKeySet>) -> Option<Arc<CoreJsonWebKeySet>> {
        let mut last_fetch = self.last_fetch.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, seen) {
            return Some(current);
        }
        if last_fetch.elapsed() < self.min_refresh_interval {
            tracing::debug!("unknown signing key; the key set was fetched too recently to refetch");
            return None;
        }
        *last_fetch = Instant::now();
        match fetch(&self.url, &self.http).await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.keys().len(),
                    "identity provider key set refreshed"
                );
                let keys = Arc::new(keys);
                *self.keys.write().expect("key cache lock poisoned") = keys.clone();
                Some(keys)
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot refresh the identity provider key set");
                None
            }
        }
    }
}

async fn fetch(
    url: &JsonWebKeySetUrl,
    http: &reqwest::Client,
) -> anyhow::Result<CoreJsonWebKeySet> {
    CoreJsonWebKeySet::fetch_async(url, &outbound::capped(http))
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot read the key set at {}", url.as_str()))
        })
}
