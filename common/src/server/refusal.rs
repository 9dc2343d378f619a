//! The answer to a connection over the cap: serialized once, written, and the connection closed.

use std::io;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH};
use hyper::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The answer to a connection over the cap, serialized once: the status line, the response's
/// headers, `content-length`, `connection: close` and the body.
#[derive(Debug, Clone)]
pub struct Refusal(Bytes);

impl Refusal {
    /// `content-length` and `connection` of `response` are replaced.
    pub fn new(response: Response<impl AsRef<[u8]>>) -> Self {
        let (parts, body) = response.into_parts();
        let body = body.as_ref();
        let status = parts.status;
        let mut raw = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        )
        .into_bytes();
        for (name, value) in &parts.headers {
            if name == CONTENT_LENGTH || name == CONNECTION {
                continue;
            }
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.extend_from_slice(b": ");
            raw.extend_from_slice(value.as_bytes());
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(
            format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        raw.extend_from_slice(body);
        Self(raw.into())
    }

    /// The bytes written to a refused connection.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// How long a refused connection may take to receive its answer and close.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers a connection over the cap and closes it. What the client sent is read (a little,
/// briefly) after the answer, so that closing does not reset the connection under the answer
/// before the client has read it.
pub(super) async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let answer = async {
        stream.write_all(refusal.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, answer).await;
}

#[cfg(test)]
pub(super) mod tests {
    use hyper::StatusCode;

    use super::*;

    /// A 503 with a header of its own and one (`connection`) the refusal replaces.
    pub(in crate::server) fn refusal() -> Refusal {
        Refusal::new(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "1")
                .header(CONNECTION, "keep-alive")
                .body("full")
                .unwrap(),
        )
    }

    #[test]
    fn a_refusal_closes_the_connection_and_counts_its_body() {
        let raw = String::from_utf8(refusal().as_bytes().to_vec()).unwrap();
        assert_eq!(
            raw,
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 4\r\n\
             connection: close\r\n\r\nfull"
        );
    }
}
