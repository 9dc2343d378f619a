//! [`Secrets`] from AWS Secrets Manager: the secret's name is its ARN (or name), the value its
//! `SecretString` (or `SecretBinary`), read with `GetSecretValue`.

use anyhow::Context;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::ports::{BoxFuture, PortResult, Secrets};

pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl Secrets for SecretsManagerSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, PortResult<Vec<u8>>> {
        Box::pin(async move {
            let output = self
                .client
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(err)))
                .with_context(|| format!("cannot read the secret {name}"))?;
            match (output.secret_string(), output.secret_binary()) {
                (Some(text), _) => Ok(text.as_bytes().to_vec()),
                (None, Some(bytes)) => Ok(bytes.as_ref().to_vec()),
                (None, None) => anyhow::bail!("the secret {name} has no value"),
            }
        })
    }
}
