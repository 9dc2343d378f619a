//! [`Secrets`](imgcap_webapp::core::ports::Secrets): a stored secret reads back the same every time;
//! a secret that is not there is an error naming it (AWS) or is created once (embedded).

use imgcap_webapp::adapters::aws::secrets::SecretsManagerSecrets;
use imgcap_webapp::core::ports::{Secrets, SIGNING_KEY_SECRET};

use super::{Adapters, Family};

contract!(a_stored_secret_reads_back_unchanged,);

async fn a_stored_secret_reads_back_unchanged(adapters: Adapters) {
    let first = adapters.secrets.get(adapters.stored_secret).await.unwrap();
    assert!(first.len() >= 32, "{} bytes", first.len());
    assert_eq!(
        adapters.secrets.get(adapters.stored_secret).await.unwrap(),
        first
    );
}

#[tokio::test]
async fn aws_a_missing_or_unconfigured_secret_is_an_error_naming_it() {
    let adapters = Adapters::aws().await;
    let Family::Aws(resources) = &adapters.family else {
        unreachable!()
    };
    let secrets = SecretsManagerSecrets::new(
        aws_sdk_secretsmanager::Client::new(&resources.sdk().await),
        vec![(
            "hf-api-key".into(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:imgcap/none-AbCdEf".into(),
        )],
    );
    let missing = format!("{:#}", secrets.get("hf-api-key").await.unwrap_err());
    assert!(
        missing.contains("hf-api-key") && missing.contains("does not exist"),
        "{missing}"
    );
    let unknown = format!("{:#}", secrets.get("other").await.unwrap_err());
    assert!(unknown.contains("`other`"), "{unknown}");
}

#[tokio::test]
async fn embedded_a_missing_signing_key_is_created_once_and_kept() {
    let adapters = Adapters::embedded().await;
    let created = adapters.secrets.get(SIGNING_KEY_SECRET).await.unwrap();
    assert_eq!(created.len(), 32);
    assert_eq!(
        adapters.secrets.get(SIGNING_KEY_SECRET).await.unwrap(),
        created
    );
    // A secret the app cannot make itself is an error naming where it is looked for.
    let missing = format!(
        "{:#}",
        adapters.secrets.get("hf-api-key").await.unwrap_err()
    );
    assert!(missing.contains("IMGCAP_HF_API_KEY"), "{missing}");
}
