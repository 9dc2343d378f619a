//! [`Secrets`] from the environment or files: secret `signing-key` is `IMGCAP_SIGNING_KEY`, else
//! the file named by `IMGCAP_SIGNING_KEY_FILE`, else `<data dir>/secrets/signing-key`, created
//! with 32 random bytes (mode 0600) the first time, so a single machine works out of the box and
//! keeps its signed URLs valid across restarts.

use std::path::PathBuf;

use anyhow::Context;
use rand::RngCore;

use crate::ports::{BoxFuture, PortResult, Secrets};

pub struct EnvFileSecrets {
    dir: PathBuf,
}

impl EnvFileSecrets {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

fn var_name(secret: &str) -> String {
    format!("IMGCAP_{}", secret.replace('-', "_").to_ascii_uppercase())
}

impl Secrets for EnvFileSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, PortResult<Vec<u8>>> {
        Box::pin(async move {
            let var = var_name(name);
            if let Some(value) = std::env::var(&var).ok().filter(|v| !v.is_empty()) {
                anyhow::ensure!(value.len() >= 32, "{var} must be at least 32 characters");
                return Ok(value.into_bytes());
            }
            if let Some(path) = std::env::var(format!("{var}_FILE"))
                .ok()
                .filter(|v| !v.is_empty())
            {
                let value = tokio::fs::read(&path)
                    .await
                    .with_context(|| format!("cannot read {var}_FILE ({path})"))?;
                anyhow::ensure!(value.len() >= 32, "{path} must hold at least 32 bytes");
                return Ok(value);
            }
            let path = self.dir.join(name);
            match tokio::fs::read(&path).await {
                Ok(value) => return Ok(value),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err).context(format!("cannot read {}", path.display())),
            }
            tokio::fs::create_dir_all(&self.dir).await?;
            let mut value = vec![0u8; 32];
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
