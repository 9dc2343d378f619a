//! [`Secrets`] from the environment or files: secret `signing-key` is `IMGCAP_SIGNING_KEY`, else
//! the file named by `IMGCAP_SIGNING_KEY_FILE`, else `<data dir>/secrets/signing-key`, created
//! with 32 random bytes (mode 0600) the first time, so a single machine works out of the box and
//! keeps its signed URLs valid across restarts. Secrets the app cannot make itself (the
//! `hf-api-key`: `IMGCAP_HF_API_KEY`, ...) are read the same way and are an error when missing.

use std::path::PathBuf;

use anyhow::Context;
use rand::RngCore;

use super::private_files;
use crate::core::ports::{BoxFuture, PortResult, Secrets, SIGNING_KEY_SECRET};

pub struct EnvFileSecrets {
    dir: PathBuf,
}

impl EnvFileSecrets {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

/// Keys the app generates when none is given; they sign data, so a given one must be long.
const GENERATED: &[&str] = &[SIGNING_KEY_SECRET];
const MIN_GENERATED_LEN: usize = 32;

fn var_name(secret: &str) -> String {
    format!("IMGCAP_{}", secret.replace('-', "_").to_ascii_uppercase())
}

impl Secrets for EnvFileSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, PortResult<Vec<u8>>> {
        Box::pin(async move {
            let var = var_name(name);
            let generated = GENERATED.contains(&name);
            let min_len = if generated { MIN_GENERATED_LEN } else { 1 };
            if let Some(value) = std::env::var(&var).ok().filter(|v| !v.is_empty()) {
                anyhow::ensure!(
                    value.len() >= min_len,
                    "{var} must be at least {min_len} characters"
                );
                return Ok(value.into_bytes());
            }
            if let Some(path) = std::env::var(format!("{var}_FILE"))
                .ok()
                .filter(|v| !v.is_empty())
            {
                let value = tokio::fs::read(&path)
                    .await
                    .with_context(|| format!("cannot read {var}_FILE ({path})"))?;
                anyhow::ensure!(
                    value.len() >= min_len,
                    "{path} must hold at least {min_len} bytes"
                );
                return Ok(value);
            }
            let path = self.dir.join(name);
            match tokio::fs::read(&path).await {
                Ok(value) => return Ok(value),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && generated => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                    "secret `{name}` is not set: set {var}, {var}_FILE or create {}",
                    path.display()
                ),
                Err(err) => return Err(err).context(format!("cannot read {}", path.display())),
            }
            private_files::create_dir_all_async(&self.dir).await?;
            let mut value = vec![0u8; MIN_GENERATED_LEN];
            rand::rng().fill_bytes(&mut value);
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            use tokio::io::AsyncWriteExt;
            match options.open(&path).await {
                Ok(mut file) => {
                    file.write_all(&value).await?;
                    file.sync_all().await?;
                    Ok(value)
                }
                // Another process created it first: use theirs.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    Ok(tokio::fs::read(&path).await?)
                }
                Err(err) => Err(err).context(format!("cannot create {}", path.display())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn given_secrets_are_read_from_the_data_dir_and_never_generated() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = EnvFileSecrets::new(dir.path().to_path_buf());
        let err = secrets.get("test-given-key").await.unwrap_err().to_string();
        assert!(err.contains("IMGCAP_TEST_GIVEN_KEY_FILE"), "{err}");
        assert!(!dir.path().join("test-given-key").exists());
        std::fs::write(dir.path().join("test-given-key"), "hf_short\n").unwrap();
        assert_eq!(secrets.get("test-given-key").await.unwrap(), b"hf_short\n");
    }
}
