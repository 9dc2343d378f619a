//! Where a checkpoint comes from: a local directory, SageMaker's `/opt/ml/model`, or the Hugging
//! Face hub (through its local cache first, so a pre-populated cache works offline).
//!
//! Resolving only locates files; nothing here parses weights.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use hf_hub::api::tokio::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, CacheRepo, Repo, RepoType};

use crate::error::ModelError;
use crate::progress::{HubProgress, LoadProgress};

/// Where SageMaker unpacks the endpoint's `model.tar.gz`.
pub const SAGEMAKER_MODEL_DIR: &str = "/opt/ml/model";

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const PREPROCESSOR_CONFIG: &str = "preprocessor_config.json";
const SAFETENSORS: &str = "model.safetensors";
const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
const PYTORCH: &str = "pytorch_model.bin";

/// A model on the Hugging Face hub. `None` fields fall back to the environment variables
/// Hugging Face defines (`HF_TOKEN`, `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME`), then to the
/// hub's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    pub model_id: String,
    /// Branch, tag or commit.
    pub revision: String,
    pub token: Option<String>,
    /// Base URL of the hub, e.g. a mirror; default `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// The hub cache directory itself (the one holding `models--org--name`), like `HF_HUB_CACHE`.
    pub cache_dir: Option<PathBuf>,
}

impl HubModel {
    /// `model_id` at revision `main`, everything else from the environment.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            revision: "main".to_string(),
            token: None,
            endpoint: None,
            cache_dir: None,
        }
    }

    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = revision.into();
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Dir(PathBuf),
    Hub(HubModel),
}

/// The files of one checkpoint, all present on local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    /// Absent in some repositories; BLIP's defaults apply then.
    pub preprocessor_config: Option<PathBuf>,
    pub weights: WeightFiles,
    /// The hub id, or for a directory its config's `_name_or_path` or else its name.
    pub model_id: String,
    /// For the hub, the commit the files belong to; `None` for a directory.
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightFiles {
    /// One file, or the shards of an index, in a stable order.
    Safetensors(Vec<PathBuf>),
    PyTorch(PathBuf),
    Gguf(PathBuf),
}

impl ModelSource {
    /// The server's choice: SageMaker's model directory when it holds anything (the container
    /// runs as an endpoint with a model artifact), else `model_dir` when given, else `hub`.
    pub fn detect(model_dir: Option<PathBuf>, hub: HubModel) -> Self {
        Self::detect_in(Path::new(SAGEMAKER_MODEL_DIR), model_dir, hub)
    }

    /// [`ModelSource::detect`] with another SageMaker directory (tests, unusual mounts).
    pub fn detect_in(sagemaker_dir: &Path, model_dir: Option<PathBuf>, hub: HubModel) -> Self {
        if sagemaker_dir.is_dir() && !is_empty_mount(sagemaker_dir) {
            Self::Dir(sagemaker_dir.to_path_buf())
        } else {
            Self::dir_or_hub(model_dir, hub)
        }
    }

    /// `dir` when given, else `hub`. A directory that exists but is empty counts as not given:
    /// it is a mount point with nothing mounted (docker-compose mounts an empty named volume
    /// where no local checkpoint was named), so the hub model is used, and the log says why.
    pub fn dir_or_hub(dir: Option<PathBuf>, hub: HubModel) -> Self {
        match dir {
            Some(dir) if is_empty_mount(&dir) => {
                tracing::info!(dir = %dir.display(), model_id = %hub.model_id,
                    "the model directory is empty: using the model from the Hugging Face hub");
                Self::Hub(hub)
            }
            Some(dir) => Self::Dir(dir),
            None => Self::Hub(hub),
        }
    }

    /// Locates (downloading if needed) the checkpoint's files. For the hub, a complete snapshot
    /// of the revision in the local cache is used as is, without asking the hub whether the
    /// revision has moved; this is what lets a pre-populated cache work offline.
    pub async fn resolve(&self) -> Result<ModelFiles, ModelError> {
        self.resolve_with_progress(&LoadProgress::default()).await
    }

    /// [`ModelSource::resolve`], reporting the download to `progress` (and the log).
    pub async fn resolve_with_progress(
        &self,
        progress: &LoadProgress,
    ) -> Result<ModelFiles, ModelError> {
        match self {
            Self::Dir(dir) => resolve_dir(dir),
            Self::Hub(model) => resolve_hub(model, progress).await,
        }
    }
}

/// An existing directory with nothing in it (not a missing one: that is an error to report).
fn is_empty_mount(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// A local checkpoint directory. An archive unpacked with a top-level folder (SageMaker's
/// `model.tar.gz` often is) is looked into.
fn resolve_dir(dir: &Path) -> Result<ModelFiles, ModelError> {
    let dir = checkpoint_root(dir);
    let config = require(&dir, CONFIG)?;
    let tokenizer = require(&dir, TOKENIZER)?;
    let weights = local_weights(&dir)?;
    let model_id = match name_or_path(&config)? {
        Some(name) => name,
        None => dir_name(&dir),
    };
    Ok(ModelFiles {
        preprocessor_config: optional(&dir, PREPROCESSOR_CONFIG),
        config,
        tokenizer,
        weights,
        model_id,
        revision: None,
    })
}

/// `dir`, or else its one visible subdirectory that holds a `config.json` (other folders, such
/// as SageMaker's `code/`, are ignored).
fn checkpoint_root(dir: &Path) -> PathBuf {
    if dir.join(CONFIG).is_file() {
        return dir.to_path_buf();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return dir.to_path_buf();
    };
    let candidates: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .filter(|path| path.join(CONFIG).is_file())
        .collect();
    match candidates.as_slice() {
        [only] => only.clone(),
        _ => dir.to_path_buf(),
    }
}

fn require(dir: &Path, name: &str) -> Result<PathBuf, ModelError> {
    optional(dir, name).ok_or_else(|| ModelError::MissingFile {
        path: dir.join(name),
    })
}

fn optional(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    path.is_file().then_some(path)
}

/// Weights by preference: one safetensors file, a sharded safetensors index, a PyTorch pickle,
/// a single GGUF file.
fn local_weights(dir: &Path) -> Result<WeightFiles, ModelError> {
    if let Some(path) = optional(dir, SAFETENSORS) {
        return Ok(WeightFiles::Safetensors(vec![path]));
    }
    if let Some(index) = optional(dir, SAFETENSORS_INDEX) {
        let shards = shard_names(&index)?
            .iter()
            .map(|name| require(dir, name))
            .collect::<Result<_, _>>()?;
        return Ok(WeightFiles::Safetensors(shards));
    }
    if let Some(path) = optional(dir, PYTORCH) {
        return Ok(WeightFiles::PyTorch(path));
    }
    let read_err = |source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut ggufs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
            && path.is_file()
        {
            ggufs.push(path);
        }
    }
    ggufs.sort();
    match ggufs.as_slice() {
        [one] => Ok(WeightFiles::Gguf(one.clone())),
        [] => Err(ModelError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!(
                "no weights found: expected {SAFETENSORS}, {SAFETENSORS_INDEX} with its shards, \
                 {PYTORCH} or a single .gguf file"
            ),
        }),
        many => Err(ModelError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!(
                "{} GGUF files found ({}); keep exactly one",
                many.len(),
                many.iter()
                    .map(|p| dir_name(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The distinct shard file names of a safetensors index's `weight_map`, sorted. Names that would
/// escape the checkpoint directory are refused.
fn shard_names(index: &Path) -> Result<Vec<String>, ModelError> {
    let bad = |message: String| ModelError::Checkpoint {
        path: index.to_path_buf(),
        message,
    };
    let json = read_json(index)?;
    let map = json
        .get("weight_map")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
    let mut names = BTreeSet::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad(format!("weight_map[{tensor:?}] is not a file name")))?;
        let plain = Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !plain || file.is_empty() {
            return Err(bad(format!(
                "shard name {file:?} is not a plain relative path"
            )));
        }
        names.insert(file.to_string());
    }
    if names.is_empty() {
        return Err(bad("weight_map is empty".into()));
    }
    Ok(names.into_iter().collect())
}

fn read_json(path: &Path) -> Result<serde_json::Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|err| ModelError::Config {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {err}"),
    })
}

/// `_name_or_path` from `config.json`, which `transformers` writes when saving a model.
fn name_or_path(config: &Path) -> Result<Option<String>, ModelError> {
    Ok(read_json(config)?
        .get("_name_or_path")
        .and_then(serde_json::Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string))
}

fn dir_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Hugging Face hub
// ---------------------------------------------------------------------------------------------

async fn resolve_hub(model: &HubModel, progress: &LoadProgress) -> Result<ModelFiles, ModelError> {
    let cache_dir = hub_cache_dir(model)?;
    let repo = Repo::with_revision(
        model.model_id.clone(),
        RepoType::Model,
        model.revision.clone(),
    );
    if let Some(files) = cached_files(&cache_dir, &repo, &model.model_id) {
        tracing::info!(model_id = %model.model_id, revision = %model.revision,
            "using the model from the local Hugging Face cache");
        return Ok(files);
    }

    let endpoint = model
        .endpoint
        .clone()
        .or_else(|| non_empty_env("HF_ENDPOINT"))
        .unwrap_or_else(|| "https://huggingface.co".to_string());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    // `from_cache` also picks up the token saved by `huggingface-cli login`; an explicit or
    // `HF_TOKEN` token replaces it.
    let cache = Cache::new(cache_dir);
    let mut builder = ApiBuilder::from_cache(cache.clone())
        .with_progress(false)
        .with_endpoint(endpoint.clone());
    if let Some(token) = model.token.clone().or_else(|| non_empty_env("HF_TOKEN")) {
        builder = builder.with_token(Some(token));
    }
    let api = builder
        .build()
        .map_err(|err| ModelError::Hub(format!("cannot set up the hub client: {err}")))?;
    let hub = HubRepo {
        cache: cache.repo(repo.clone()),
        repo: api.repo(repo),
        model,
        endpoint,
        progress,
    };

    tracing::info!(model_id = %model.model_id, revision = %model.revision, endpoint = %hub.endpoint,
        "downloading the model from the Hugging Face hub");
    let config = hub.fetch(CONFIG).await?;
    let tokenizer = hub.fetch(TOKENIZER).await?;
    let preprocessor_config = hub.fetch_optional(PREPROCESSOR_CONFIG).await?;
    let weights = if let Some(path) = hub.fetch_optional(SAFETENSORS).await? {
        WeightFiles::Safetensors(vec![path])
    } else if let Some(index) = hub.fetch_optional(SAFETENSORS_INDEX).await? {
        let mut shards = Vec::new();
        for name in shard_names(&index)? {
            shards.push(hub.fetch(&name).await?);
        }
        WeightFiles::Safetensors(shards)
    } else if let Some(path) = hub.fetch_optional(PYTORCH).await? {
        WeightFiles::PyTorch(path)
    } else {
        return Err(ModelError::Hub(format!(
            "{} at revision {} ({}) has none of {SAFETENSORS}, {SAFETENSORS_INDEX}, {PYTORCH}",
            model.model_id,
            model.revision,
            hub.url()
        )));
    };
    // Downloads land in `snapshots/<commit>/<file>`: the folder name is the commit.
    let revision = config.parent().map(dir_name);
    Ok(ModelFiles {
        config,
        tokenizer,
        preprocessor_config,
        weights,
        model_id: model.model_id.clone(),
        revision,
    })
}

/// The hub cache: the model's setting, else `HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
fn hub_cache_dir(model: &HubModel) -> Result<PathBuf, ModelError> {
    if let Some(dir) = &model.cache_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = non_empty_env("HF_HUB_CACHE") {
        return Ok(dir.into());
    }
    if let Some(home) = non_empty_env("HF_HOME") {
        return Ok(Path::new(&home).join("hub"));
    }
    // hf-hub's own default panics without a home directory; fail with a message instead.
    let home = non_empty_env("HOME").ok_or_else(|| {
        ModelError::Hub("no cache directory: set HF_HOME or HF_HUB_CACHE (HOME is unset)".into())
    })?;
    Ok(Path::new(&home)
        .join(".cache")
        .join("huggingface")
        .join("hub"))
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A complete checkpoint already in the hub cache for this revision: the commit from
/// `refs/<revision>`, or the revision itself when it is a commit with a snapshot folder (the
/// Python client writes no ref for commits). Incomplete snapshots return `None`, so the missing
/// files get downloaded.
fn cached_files(cache_dir: &Path, repo: &Repo, model_id: &str) -> Option<ModelFiles> {
    let repo_dir = cache_dir.join(repo.folder_name());
    let revision = repo.revision();
    let commit = match std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        Ok(commit) => commit.trim().to_string(),
        Err(_) if is_commit_hash(revision) => revision.to_string(),
        Err(_) => return None,
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    let files = ModelFiles {
        config: optional(&snapshot, CONFIG)?,
        tokenizer: optional(&snapshot, TOKENIZER)?,
        preprocessor_config: optional(&snapshot, PREPROCESSOR_CONFIG),
        weights: local_weights(&snapshot).ok()?,
        model_id: model_id.to_string(),
        revision: Some(commit),
    };
    Some(files)
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One hub repository plus what error messages need to name.
struct HubRepo<'a> {
    repo: ApiRepo,
    cache: CacheRepo,
    model: &'a HubModel,
    endpoint: String,
    progress: &'a LoadProgress,
}

impl HubRepo<'_> {
    /// The model's page on the hub.
    fn url(&self) -> String {
        format!("{}/{}", self.endpoint, self.model.model_id)
    }

    /// A file from the cache, else downloaded with progress reports. (`ApiRepo::get` does the
    /// same without them.)
    async fn get(&self, file: &str) -> Result<PathBuf, ApiError> {
        match self.cache.get(file) {
            Some(path) => Ok(path),
            None => {
                self.repo
                    .download_with_progress(file, HubProgress(self.progress.clone()))
                    .await
            }
        }
    }

    /// A file the checkpoint cannot do without.
    async fn fetch(&self, file: &str) -> Result<PathBuf, ModelError> {
        self.get(file).await.map_err(|err| self.error(file, &err))
    }

    /// A file that may legitimately be absent: a 404 is `None`, other failures are errors.
    async fn fetch_optional(&self, file: &str) -> Result<Option<PathBuf>, ModelError> {
        match self.get(file).await {
            Ok(path) => Ok(Some(path)),
            Err(ApiError::RequestError(err)) if err.status().is_some_and(|s| s.as_u16() == 404) => {
                Ok(None)
            }
            Err(err) => Err(self.error(file, &err)),
        }
    }

    /// The failure, with what to do about it. A network error, a timeout or a 5xx/429 answer
    /// is [`ModelError::HubUnreachable`] (worth trying again later); anything else (a 404 for
    /// an unknown model, 401/403 for a gated one) is [`ModelError::Hub`].
    fn error(&self, file: &str, err: &ApiError) -> ModelError {
        let what = format!(
            "cannot fetch {file} of {} at revision {} from {} ({}): {err}",
            self.model.model_id,
            self.model.revision,
            self.endpoint,
            self.url()
        );
        let status = match err {
            ApiError::RequestError(err) => err.status().map(|s| s.as_u16()),
            _ => None,
        };
        let transient = match err {
            ApiError::RequestError(_) | ApiError::TooManyRetries(_) => {
                status.is_none_or(|s| s >= 500 || s == 408 || s == 429)
            }
            _ => false,
        };
        let hint = match status {
            Some(401 | 403) => {
                "the model is gated or private: accept its terms on the hub and set HF_TOKEN \
                 to a token that may read it"
            }
            Some(404) => {
                "no such model or revision there: check the model id and revision, or HF_ENDPOINT \
                 when using a mirror"
            }
            _ if transient => {
                "the hub cannot be reached: check the network, or set HF_ENDPOINT to a mirror"
            }
            _ => "check the model id, the revision and HF_ENDPOINT",
        };
        let message = format!("{what} ({hint})");
        if transient {
            ModelError::HubUnreachable(message)
        } else {
            ModelError::Hub(message)
        }
    }
}
