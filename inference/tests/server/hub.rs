//! A hub that answers only when the test says so: a model load the test can watch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::tiny_model;

/// Path and `Authorization` header of each request the hub received.
pub type SeenRequests = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub struct GatedHub {
    pub endpoint: String,
    pub open: tokio::sync::watch::Sender<bool>,
    pub seen: SeenRequests,
}

impl GatedHub {
    /// Serves the tiny checkpoint as `repo` at revision `main`, once `release` is called.
    pub async fn start(repo: &str) -> Self {
        let mut files = BTreeMap::new();
        for name in [
            "config.json",
            "tokenizer.json",
            "preprocessor_config.json",
            "model.safetensors",
        ] {
            let bytes = std::fs::read(tiny_model().join(name)).unwrap();
            files.insert(format!("/{repo}/resolve/main/{name}"), bytes);
        }
        let files = Arc::new(files);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (open, gate) = tokio::sync::watch::channel(false);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_hub_request(
                    stream,
                    files.clone(),
                    gate.clone(),
                    log.clone(),
                ));
            }
        });
        Self {
            endpoint,
            open,
            seen,
        }
    }

    pub fn release(&self) {
        self.open.send_replace(true);
    }

    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

pub async fn serve_hub_request(
    mut stream: TcpStream,
    files: Arc<BTreeMap<String, Vec<u8>>>,
    mut gate: tokio::sync::watch::Receiver<bool>,
    seen: SeenRequests,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    seen.lock()
        .unwrap()
        .push((path.clone(), header("authorization")));
    if gate.wait_for(|open| *open).await.is_err() {
        return;
    }
    let response = match files.get(&path) {
        Some(bytes) => {
            let last = bytes.len() - 1;
            let (start, end) = header("range")
                .and_then(|r| {
                    let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
                    Some((a.parse().ok()?, b.parse::<usize>().ok()?.min(last)))
                })
                .unwrap_or((0, last));
            let mut response = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes \
                 {start}-{end}/{}\r\nETag: \"{:x}\"\r\nX-Repo-Commit: {COMMIT}\r\n\
                 Connection: close\r\n\r\n",
                end + 1 - start,
                bytes.len(),
                bytes.len()
            )
            .into_bytes();
            response.extend_from_slice(&bytes[start..=end]);
            response
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Error-Code: EntryNotFound\r\n\
                  Connection: close\r\n\r\n"
            .to_vec(),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}
