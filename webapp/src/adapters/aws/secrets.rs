//! [`Secrets`] from AWS Secrets Manager: each secret name the app uses maps to the ARN the
//! deployment names (`IMGCAP_SESSION_KEY_SECRET_ARN` for `signing-key`).

use anyhow::{anyhow, Context};
use aws_sdk_secretsmanager::Client;

use crate::core::ports::{BoxFuture, PortResult, Secrets};

pub struct SecretsManagerSecrets {
    client: Client,
    /// (secret name, secret id or ARN)
    ids: Vec<(String, String)>,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client, ids: Vec<(String, String)>) -> Self {
        Self { client, ids }
    }
}

impl Secrets for SecretsManagerSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, PortResult<Vec<u8>>> {
        Box::pin(async move {
            let id = self
                .ids
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, id)| id)
                .ok_or_else(|| anyhow!("no secret `{name}` is configured for AWS mode"))?;
            let output = match self.client.get_secret_value().secret_id(id).send().await {
                Ok(output) => output,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return Err(anyhow!(
                        "the secret `{name}` ({id}) does not exist or has no value yet"
                    ))
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot read the secret `{name}` ({id})"))
                }
            };
            match (output.secret_string, output.secret_binary) {
                (Some(text), _) => Ok(text.into_bytes()),
                (None, Some(blob)) => Ok(blob.into_inner()),
                (None, None) => Err(anyhow!("the secret `{name}` ({id}) is empty")),
            }
        })
    }
}
