//! Environment overrides: every key a section lists is read from `IMGCAP_` + the key upper-cased
//! with its dots as underscores (`upload.max_bytes` → `IMGCAP_UPLOAD_MAX_BYTES`), except the
//! few in [`ALIASES`]. `.env.example` documents the same list (a unit test keeps them in step).

use std::path::Path;

use super::ENV_FILE_VAR;

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
pub(super) enum EnvKind {
    Str,
    Int,
    /// Comma-separated.
    List,
    Bool,
}

/// Keys whose variable is not the derived name: the names Terraform's task definition and the
/// docs have used since the first release.
const ALIASES: &[(&str, &str)] = &[
    (
        "upload.image_memory_budget_mb",
        "IMGCAP_IMAGE_MEMORY_BUDGET_MB",
    ),
    ("upload.image_memory_wait_ms", "IMGCAP_IMAGE_MEMORY_WAIT_MS"),
    ("api_tokens.lifetime_days", "IMGCAP_API_TOKEN_LIFETIME_DAYS"),
    ("aws.s3_bucket", "IMGCAP_S3_BUCKET"),
    ("aws.s3_kms_key_arn", "IMGCAP_S3_KMS_KEY_ARN"),
    ("aws.dynamodb_table", "IMGCAP_DYNAMODB_TABLE"),
    ("aws.dynamodb_jobs_index", "IMGCAP_DYNAMODB_JOBS_INDEX"),
    ("aws.sqs_queue_url", "IMGCAP_SQS_QUEUE_URL"),
    ("aws.sqs_dlq_url", "IMGCAP_SQS_DLQ_URL"),
    (
        "aws.session_key_secret_arn",
        "IMGCAP_SESSION_KEY_SECRET_ARN",
    ),
    (
        "captioner.sagemaker.endpoint_name",
        "IMGCAP_SAGEMAKER_ENDPOINT",
    ),
    ("captioner.bedrock.model_id", "IMGCAP_BEDROCK_MODEL_ID"),
    (
        "captioner.hf.api_key_secret_arn",
        "IMGCAP_HF_API_KEY_SECRET_ARN",
    ),
    ("labels.rekognition", "IMGCAP_REKOGNITION_LABELS"),
];

/// Every section's keys.
const SECTIONS: &[&[(&str, EnvKind)]] = &[
    super::TOP_LEVEL_ENV_KEYS,
    super::server::ENV_KEYS,
    super::upload::ENV_KEYS,
    super::rate_limit::ENV_KEYS,
    super::blobs::ENV_KEYS,
    super::metrics::ENV_KEYS,
    super::worker::ENV_KEYS,
    super::retention::ENV_KEYS,
    super::session::ENV_KEYS,
    super::api_tokens::ENV_KEYS,
    super::captioner::ENV_KEYS,
    super::aws::ENV_KEYS,
    super::oidc::ENV_KEYS,
    super::labels::ENV_KEYS,
];

/// The variable that sets `key`.
pub(super) fn variable_of(key: &str) -> String {
    match ALIASES.iter().find(|(k, _)| *k == key) {
        Some((_, alias)) => (*alias).to_owned(),
        None => format!("IMGCAP_{}", key.replace('.', "_").to_ascii_uppercase()),
    }
}

/// Every overridable key with its variable and kind.
pub(super) fn variables() -> impl Iterator<Item = (String, &'static str, EnvKind)> {
    SECTIONS
        .iter()
        .flat_map(|keys| keys.iter())
        .map(|&(key, kind)| (variable_of(key), key, kind))
}

/// Sets the keys the `IMGCAP_*` variables among `env` name; later pairs win.
pub(super) fn apply(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), String> {
    let known: Vec<_> = variables().collect();
    for (name, value) in env {
        // An empty variable (as copied from .env.example) means "not set".
        if !name.starts_with("IMGCAP_") || value.is_empty() {
            continue;
        }
        let Some(&(_, key, kind)) = known.iter().find(|(var, _, _)| *var == name) else {
            // Secrets (IMGCAP_SIGNING_KEY...) and the file names are read elsewhere.
            continue;
        };
        let parsed = match kind {
            EnvKind::Str => toml::Value::String(value),
            EnvKind::Int => value
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| format!("{name} (`{key}`): expected a whole number, got `{value}`"))?,
            EnvKind::Bool => match value.trim() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => {
                    return Err(format!(
                        "{name} (`{key}`): expected true or false, got `{value}`"
                    ))
                }
            },
            EnvKind::List => toml::Value::Array(
                value
                    .split(',')
                    .map(|s| toml::Value::String(s.trim().to_owned()))
                    .collect(),
            ),
        };
        set_key(table, key, parsed);
    }
    Ok(())
}

fn set_key(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("keys are not empty");
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.to_owned(), value);
}

/// The `NAME=value` lines of an env file; blank lines and `#` comments are skipped.
pub(super) fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{ENV_FILE_VAR}: cannot read {}: {err}", path.display()))?;
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or_else(|| {
            format!(
                "{}:{}: expected NAME=value, got `{line}`",
                path.display(),
                number + 1
            )
        })?;
        pairs.push((name.trim().to_owned(), value.to_owned()));
    }
    Ok(pairs)
}
