//! Locating checkpoints: local directories, SageMaker's layout, the HF cache, and downloads from a
//! fake hub served on loopback by the test itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use imgcap_models::source::{HubModel, ModelFiles, ModelSource, WeightFiles};
use imgcap_models::{LoadProgress, ModelError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CONFIG: &str = r#"{"architectures": ["BlipForConditionalGeneration"], "model_type": "blip"}"#;

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    path
}

/// A directory with config, tokenizer and the given extra files (dummy contents: the resolver
/// does not parse weights).
fn checkpoint_dir(parent: &Path, name: &str, files: &[&str]) -> PathBuf {
    let dir = parent.join(name);
    write(&dir, "config.json", CONFIG);
    write(&dir, "tokenizer.json", "{}");
    for file in files {
        write(&dir, file, "weights");
    }
    dir
}

async fn resolve_dir(dir: &Path) -> Result<ModelFiles, ModelError> {
    ModelSource::Dir(dir.to_path_buf()).resolve().await
}

// ---------------------------------------------------------------------------------------------
// Local directories
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn local_dir_with_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(
        tmp.path(),
        "blip-base",
        &["model.safetensors", "pytorch_model.bin"],
    );
    write(&dir, "preprocessor_config.json", "{}");
    let files = resolve_dir(&dir).await.unwrap();
    assert_eq!(
        files,
        ModelFiles {
            config: dir.join("config.json"),
            tokenizer: dir.join("tokenizer.json"),
            preprocessor_config: Some(dir.join("preprocessor_config.json")),
            weights: WeightFiles::Safetensors(vec![dir.join("model.safetensors")]),
            model_id: "blip-base".into(),
            revision: None,
        }
    );
}

#[tokio::test]
async fn model_id_comes_from_name_or_path_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(tmp.path(), "snapshot", &["model.safetensors"]);
    write(
        &dir,
        "config.json",
        r#"{"_name_or_path": "Salesforce/blip-image-captioning-base"}"#,
    );
    let files = resolve_dir(&dir).await.unwrap();
    assert_eq!(files.model_id, "Salesforce/blip-image-captioning-base");
    assert_eq!(files.preprocessor_config, None);
}

#[tokio::test]
async fn weight_formats_in_order_of_preference() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(tmp.path(), "pt", &["pytorch_model.bin", "model-q8_0.gguf"]);
    assert_eq!(
        resolve_dir(&dir).await.unwrap().weights,
        WeightFiles::PyTorch(dir.join("pytorch_model.bin"))
    );
    let dir = checkpoint_dir(tmp.path(), "gguf", &["blip-q4k.gguf"]);
    assert_eq!(
        resolve_dir(&dir).await.unwrap().weights,
        WeightFiles::Gguf(dir.join("blip-q4k.gguf"))
    );
}

#[tokio::test]
async fn two_gguf_files_are_ambiguous() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(tmp.path(), "gguf", &["blip-q4k.gguf", "blip-q8_0.gguf"]);
    match resolve_dir(&dir).await {
        Err(ModelError::Checkpoint { path, message }) => {
            assert_eq!(path, dir);
            assert!(
                message.contains("blip-q4k.gguf") && message.contains("blip-q8_0.gguf"),
                "{message}"
            );
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(tmp.path(), "m", &["model.safetensors"]);

    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    match resolve_dir(&dir).await {
        Err(ModelError::MissingFile { path }) => assert_eq!(path, dir.join("tokenizer.json")),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    std::fs::remove_file(dir.join("config.json")).unwrap();
    match resolve_dir(&dir).await {
        Err(ModelError::MissingFile { path }) => assert_eq!(path, dir.join("config.json")),
        other => panic!("expected MissingFile, got {other:?}"),
    }

    let no_weights = checkpoint_dir(tmp.path(), "empty", &[]);
    match resolve_dir(&no_weights).await {
        Err(ModelError::Checkpoint { message, .. }) => {
            assert!(message.contains("model.safetensors"), "{message}")
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }

    let err = resolve_dir(&tmp.path().join("does-not-exist"))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err:?}");
}

const INDEX: &str = r#"{"metadata": {"total_size": 10}, "weight_map": {
    "text_decoder.bert.embeddings.word_embeddings.weight": "model-00002-of-00002.safetensors",
    "vision_model.embeddings.patch_embedding.weight": "model-00001-of-00002.safetensors",
    "vision_model.post_layernorm.weight": "model-00001-of-00002.safetensors"}}"#;

#[tokio::test]
async fn sharded_safetensors_list_every_shard_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(
        tmp.path(),
        "sharded",
        &[
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
        ],
    );
    write(&dir, "model.safetensors.index.json", INDEX);
    assert_eq!(
        resolve_dir(&dir).await.unwrap().weights,
        WeightFiles::Safetensors(vec![
            dir.join("model-00001-of-00002.safetensors"),
            dir.join("model-00002-of-00002.safetensors"),
        ])
    );

    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    match resolve_dir(&dir).await {
        Err(ModelError::MissingFile { path }) => {
            assert_eq!(path, dir.join("model-00002-of-00002.safetensors"))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }

    write(
        &dir,
        "model.safetensors.index.json",
        r#"{"weight_map": {"a": "../../etc/passwd"}}"#,
    );
    assert!(matches!(
        resolve_dir(&dir).await,
        Err(ModelError::Checkpoint { .. })
    ));
    write(&dir, "model.safetensors.index.json", "not json");
    assert!(matches!(
        resolve_dir(&dir).await,
        Err(ModelError::Config { .. })
    ));
}

#[tokio::test]
async fn sagemaker_archive_with_one_top_level_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let sagemaker = tmp.path().join("opt-ml-model");
    let nested = checkpoint_dir(
        &sagemaker,
        "blip-image-captioning-base",
        &["model.safetensors"],
    );
    std::fs::create_dir_all(sagemaker.join(".ipynb_checkpoints")).unwrap();
    // `code/` has no config.json, so the one folder that has one is chosen.
    write(&sagemaker, "code/inference.py", "");

    let hub = HubModel::new("Salesforce/blip-image-captioning-base");
    let source =
        ModelSource::detect_in(&sagemaker, Some(tmp.path().join("elsewhere")), hub.clone());
    assert_eq!(source, ModelSource::Dir(sagemaker.clone()));
    let files = source.resolve().await.unwrap();
    assert_eq!(files.config, nested.join("config.json"));
    assert_eq!(
        files.weights,
        WeightFiles::Safetensors(vec![nested.join("model.safetensors")])
    );
    assert_eq!(files.model_id, "blip-image-captioning-base");
}

#[test]
fn source_selection_order() {
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("no-sagemaker-here");
    let hub = HubModel::new("org/name").with_revision("v1");
    assert_eq!(hub.revision, "v1");
    let local = tmp.path().join("local");
    assert_eq!(
        ModelSource::detect_in(&absent, Some(local.clone()), hub.clone()),
        ModelSource::Dir(local)
    );
    assert_eq!(
        ModelSource::detect_in(&absent, None, hub.clone()),
        ModelSource::Hub(hub.clone())
    );
}

/// An empty directory is a mount point with nothing mounted (docker-compose's empty named
/// volume): the next source is used. A missing `--model-dir` stays a directory, whose absence
/// `resolve` then reports.
#[test]
fn an_empty_model_directory_falls_back_to_the_next_source() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let local = tmp.path().join("local");
    let hub = HubModel::new("org/name");
    assert_eq!(
        ModelSource::detect_in(&empty, Some(local.clone()), hub.clone()),
        ModelSource::Dir(local.clone())
    );
    assert_eq!(
        ModelSource::detect_in(&empty, Some(empty.clone()), hub.clone()),
        ModelSource::Hub(hub.clone())
    );
    assert_eq!(
        ModelSource::dir_or_hub(Some(local.clone()), hub.clone()),
        ModelSource::Dir(local)
    );
    write(&empty, "config.json", "{}");
    assert_eq!(
        ModelSource::detect_in(&empty, None, hub.clone()),
        ModelSource::Dir(empty)
    );
}

// ---------------------------------------------------------------------------------------------
// Hugging Face cache and hub
// ---------------------------------------------------------------------------------------------

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// An endpoint nothing listens on: any request fails at once with "connection refused".
async fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn hub_model(model_id: &str, endpoint: String, cache_dir: &Path) -> HubModel {
    HubModel {
        endpoint: Some(endpoint),
        cache_dir: Some(cache_dir.to_path_buf()),
        ..HubModel::new(model_id)
    }
}

#[tokio::test]
async fn prepopulated_cache_resolves_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let repo = cache.join("models--org--tiny-blip");
    write(&repo, "refs/main", &format!("{COMMIT}\n"));
    let snapshot = checkpoint_dir(&repo.join("snapshots"), COMMIT, &["model.safetensors"]);
    write(&snapshot, "preprocessor_config.json", "{}");

    let model = hub_model("org/tiny-blip", dead_endpoint().await, &cache);
    let files = ModelSource::Hub(model.clone()).resolve().await.unwrap();
    assert_eq!(
        files,
        ModelFiles {
            config: snapshot.join("config.json"),
            tokenizer: snapshot.join("tokenizer.json"),
            preprocessor_config: Some(snapshot.join("preprocessor_config.json")),
            weights: WeightFiles::Safetensors(vec![snapshot.join("model.safetensors")]),
            model_id: "org/tiny-blip".into(),
            revision: Some(COMMIT.into()),
        }
    );

    // A commit as the revision needs no ref (the Python client writes none for commits).
    let pinned = HubModel {
        revision: COMMIT.into(),
        ..model.clone()
    };
    assert_eq!(
        ModelSource::Hub(pinned).resolve().await.unwrap().config,
        snapshot.join("config.json")
    );

    // An incomplete snapshot goes to the network, which is down here: a transient hub error
    // that says what to check.
    std::fs::remove_file(snapshot.join("model.safetensors")).unwrap();
    match ModelSource::Hub(model).resolve().await {
        Err(err @ ModelError::HubUnreachable(_)) => {
            assert!(err.is_transient());
            let message = err.to_string();
            for part in ["org/tiny-blip", "HF_ENDPOINT"] {
                assert!(message.contains(part), "{part:?} not in {message:?}");
            }
        }
        other => panic!("expected an unreachable hub, got {other:?}"),
    }
}

/// One request as the fake hub saw it.
#[derive(Debug, Clone)]
struct SeenRequest {
    path: String,
    range: Option<String>,
    authorization: Option<String>,
}

/// A minimal hub: serves `files` (path → bytes) under `/{repo}/resolve/{revision}/`, with the
/// headers hf-hub 0.4 reads: `Range` requests answered with 206 + `Content-Range`, an `ETag` and
/// `X-Repo-Commit`. Anything else is a 404.
struct FakeHub {
    endpoint: String,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

impl FakeHub {
    async fn start(repo: &str, files: &[(&str, &[u8])]) -> Self {
        let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(
            files
                .iter()
                .map(|(name, bytes)| (format!("/{repo}/resolve/main/{name}"), bytes.to_vec()))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, files.clone(), seen.clone()));
            }
        });
        Self { endpoint, requests }
    }

    fn requests(&self) -> Vec<SeenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(
    mut stream: tokio::net::TcpStream,
    files: Arc<HashMap<String, Vec<u8>>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    seen.lock().unwrap().push(SeenRequest {
        path: path.clone(),
        range: range.clone(),
        authorization: headers.get("authorization").cloned(),
    });

    let (status, extra, body): (&str, String, Vec<u8>) = match files.get(&path) {
        Some(bytes) => {
            let len = bytes.len();
            let (start, end) = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.split_once('-'))
                .map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(len - 1)))
                .unwrap_or((0, len - 1));
            let end = end.min(len - 1);
            // The content hash stands in for the git/LFS etag the real hub sends.
            let etag = format!("{:016x}", fnv1a(bytes));
            let extra = format!(
                "Content-Range: bytes {start}-{end}/{len}\r\nETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\n"
            );
            ("206 Partial Content", extra, bytes[start..=end].to_vec())
        }
        None => (
            "404 Not Found",
            "X-Error-Code: EntryNotFound\r\n".to_string(),
            br#"{"error":"Entry not found"}"#.to_vec(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[tokio::test]
async fn downloads_from_the_hub_into_the_cache_with_the_token() {
    let config = br#"{"_name_or_path": "ignored for hub models"}"#;
    let weights = b"not really safetensors, but the resolver does not care";
    let hub = FakeHub::start(
        "org/tiny-blip",
        &[
            ("config.json", config),
            ("tokenizer.json", b"{\"model\": {}}"),
            ("preprocessor_config.json", b"{\"size\": 384}"),
            ("model.safetensors", weights),
        ],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let model = HubModel {
        token: Some("hf_test_token".into()),
        ..hub_model("org/tiny-blip", hub.endpoint.clone(), &cache)
    };
    let progress = LoadProgress::default();
    let files = ModelSource::Hub(model.clone())
        .resolve_with_progress(&progress)
        .await
        .unwrap();
    let status = progress.status();
    let total = (config.len() + 13 + 13 + weights.len()) as u64;
    assert_eq!(
        (status.downloaded_bytes, status.total_bytes, status.percent),
        (total, total, Some(100.0)),
        "every byte of every file counted once"
    );

    let snapshot = cache.join("models--org--tiny-blip/snapshots").join(COMMIT);
    assert_eq!(files.config, snapshot.join("config.json"));
    assert_eq!(
        files.preprocessor_config,
        Some(snapshot.join("preprocessor_config.json"))
    );
    assert_eq!(
        files.weights,
        WeightFiles::Safetensors(vec![snapshot.join("model.safetensors")])
    );
    assert_eq!(files.model_id, "org/tiny-blip");
    assert_eq!(files.revision.as_deref(), Some(COMMIT));
    assert_eq!(std::fs::read(&files.config).unwrap(), config);
    assert_eq!(
        std::fs::read(snapshot.join("model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("models--org--tiny-blip/refs/main")).unwrap(),
        COMMIT
    );

    let requests = hub.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer hf_test_token"),
            "{request:?}"
        );
        assert!(request.range.is_some(), "{request:?}");
    }
    assert!(requests
        .iter()
        .any(|r| r.path == "/org/tiny-blip/resolve/main/model.safetensors"));

    // Everything is cached now: a second resolve needs no network.
    let offline = HubModel {
        endpoint: Some(dead_endpoint().await),
        ..model
    };
    assert_eq!(ModelSource::Hub(offline).resolve().await.unwrap(), files);
}

#[tokio::test]
async fn hub_falls_back_to_shards_then_pytorch_and_tolerates_no_preprocessor() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = FakeHub::start(
        "org/sharded",
        &[
            ("config.json", CONFIG.as_bytes()),
            ("tokenizer.json", b"{}"),
            ("model.safetensors.index.json", INDEX.as_bytes()),
            ("model-00001-of-00002.safetensors", b"shard one"),
            ("model-00002-of-00002.safetensors", b"shard two"),
        ],
    )
    .await;
    let files = ModelSource::Hub(hub_model("org/sharded", hub.endpoint.clone(), tmp.path()))
        .resolve()
        .await
        .unwrap();
    let snapshot = tmp
        .path()
        .join("models--org--sharded/snapshots")
        .join(COMMIT);
    assert_eq!(files.preprocessor_config, None);
    assert_eq!(
        files.weights,
        WeightFiles::Safetensors(vec![
            snapshot.join("model-00001-of-00002.safetensors"),
            snapshot.join("model-00002-of-00002.safetensors"),
        ])
    );
    assert_eq!(
        std::fs::read(snapshot.join("model-00002-of-00002.safetensors")).unwrap(),
        b"shard two"
    );

    let hub = FakeHub::start(
        "org/pt",
        &[
            ("config.json", CONFIG.as_bytes()),
            ("tokenizer.json", b"{}"),
            ("pytorch_model.bin", b"pickle"),
        ],
    )
    .await;
    let files = ModelSource::Hub(hub_model("org/pt", hub.endpoint.clone(), tmp.path()))
        .resolve()
        .await
        .unwrap();
    let snapshot = tmp.path().join("models--org--pt/snapshots").join(COMMIT);
    assert_eq!(
        files.weights,
        WeightFiles::PyTorch(snapshot.join("pytorch_model.bin"))
    );
}

#[tokio::test]
async fn unknown_model_is_a_hub_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = FakeHub::start("org/other", &[]).await;
    let model = HubModel {
        revision: "main".into(),
        ..hub_model("org/missing-model", hub.endpoint.clone(), tmp.path())
    };
    match ModelSource::Hub(model).resolve().await {
        Err(ModelError::Hub(message)) => {
            for part in ["org/missing-model", "revision main", "config.json", "404"] {
                assert!(message.contains(part), "{part:?} not in {message:?}");
            }
        }
        other => panic!("expected a hub error, got {other:?}"),
    }

    // A repository without any weights.
    let hub = FakeHub::start(
        "org/no-weights",
        &[("config.json", b"{}"), ("tokenizer.json", b"{}")],
    )
    .await;
    match ModelSource::Hub(hub_model(
        "org/no-weights",
        hub.endpoint.clone(),
        tmp.path(),
    ))
    .resolve()
    .await
    {
        Err(ModelError::Hub(message)) => assert!(message.contains("org/no-weights"), "{message}"),
        other => panic!("expected a hub error, got {other:?}"),
    }
}
