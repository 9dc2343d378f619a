//! Outbound HTTP, to the captioners (`endpoint`, `hf`) and the identity provider: clients
//! that follow no redirects, so an image, an API key or an authorization code never goes to
//! a host the configuration did not name, and answers read with a size cap, so a broken or
//! hostile server cannot make the app buffer an endless body.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use axum::http::{Request, Response};

/// The largest answer read: captions, key sets, discovery documents and tokens are a few KB.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The HTTP client of the `endpoint` and `hf` captioners (their calls carry their own timeouts).
pub fn captioner_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")
}

/// The answer's body, at most [`MAX_ANSWER_BYTES`]: a longer one is an error, read no further.
pub async fn read_body(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let too_large = || anyhow::anyhow!("the answer is larger than {MAX_ANSWER_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.context("the answer was cut off")? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, std::io::Error>> + Send>>;

/// `client` as the `openidconnect` crate calls it (token exchange, key set), its answers read
/// with [`read_body`]; its own integration would read them whole.
pub fn capped(client: &reqwest::Client) -> impl Fn(Request<Vec<u8>>) -> Answer + '_ {
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let answer = async {
                let response = client
                    .execute(reqwest::Request::try_from(request)?)
                    .await
                    .context("the request failed")?;
                let mut builder = Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    builder = builder.header(name, value);
                }
                Ok::<_, anyhow::Error>(builder.body(read_body(response).await?)?)
            };
            answer.await.map_err(std::io::Error::other)
        })
    }
}
