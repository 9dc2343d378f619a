//! CloudWatch metrics (embedded metric format): with a namespace set, finished caption jobs and
//! failovers write EMF records; and the monitoring Terraform reads exactly the metrics, namespace
//! wiring and dimension the app writes.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use imgcap_webapp::config::ProviderKind;
use imgcap_webapp::telemetry::emf::{EmfOutput, Metric, ENVIRONMENT};
use imgcap_webapp::Config;
use serde_json::Value;

use crate::captioning::failing_endpoint;
use crate::harness::{png, test_config, test_data, without_captions, TestApp};

/// `config` writing its CloudWatch records into the returned buffer.
fn recording(mut config: Config) -> (Config, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    config.metrics.cloudwatch_namespace = Some("imgcap".into());
    config.metrics.cloudwatch_environment = Some("test".into());
    config.metrics.cloudwatch_output = Some(EmfOutput::new(buffer.clone()));
    (config, buffer)
}

/// Every record written so far, one JSON object per line.
fn records(buffer: &Mutex<Vec<u8>>) -> Vec<Value> {
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The records holding `metric`, once at least one is there (the record follows the status).
async fn wait_for_metric(buffer: &Mutex<Vec<u8>>, metric: Metric) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = records(buffer)
            .into_iter()
            .filter(|r| r.get(metric.name()).is_some())
            .collect();
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "no {} record", metric.name());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_emf(record: &Value, metrics: &[Metric]) {
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "imgcap", "{record}");
    assert_eq!(directive["Dimensions"], serde_json::json!([[ENVIRONMENT]]));
    assert_eq!(record[ENVIRONMENT], "test");
    assert!(record["_aws"]["Timestamp"].is_i64(), "{record}");
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    let wanted: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
    assert_eq!(names, wanted, "{record}");
    for metric in metrics {
        assert!(record[metric.name()].is_u64(), "{record}");
    }
}

#[tokio::test]
async fn a_captioned_upload_writes_caption_succeeded_after_a_failover() {
    // The endpoint (nothing listens on port 9) fails; the embedded model answers.
    let mut config = test_config();
    config.captioner.chain = vec![ProviderKind::Endpoint, ProviderKind::Embedded];
    config.captioner.endpoint.url = Some("http://127.0.0.1:9/invocations".into());
    let (config, buffer) = recording(config);
    let app = TestApp::spawn(config).await;
    let token = app.token("erin", false).await;
    let done = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;

    let succeeded = wait_for_metric(&buffer, Metric::CaptionSucceeded).await;
    assert_eq!(succeeded.len(), 1);
    let record = &succeeded[0];
    assert_emf(record, &[Metric::CaptionSucceeded, Metric::CaptionLatency]);
    assert_eq!(record["CaptionSucceeded"], 1);
    assert_eq!(record["CaptionLatency"], done["result"]["latency_ms"]);
    let failovers = wait_for_metric(&buffer, Metric::CaptionerFailover).await;
    assert_eq!(failovers.len(), 1, "the endpoint was passed over once");
    assert_emf(&failovers[0], &[Metric::CaptionerFailover]);
    assert!(records(&buffer)
        .iter()
        .all(|r| r.get("CaptionFailed").is_none()));
}

#[tokio::test]
async fn a_job_failed_for_good_writes_caption_failed_once() {
    let (url, _) = failing_endpoint(StatusCode::BAD_REQUEST).await;
    let mut config = without_captions(test_config());
    config.captioner.endpoint.url = Some(url);
    config.worker.concurrency = 1;
    config.worker.max_attempts = 2;
    config.captioner.endpoint.failure_threshold = 100;
    let (config, buffer) = recording(config);
    let app = TestApp::spawn(config).await;
    let token = app.token("erin", false).await;
    app.upload_and_wait(&token, png(5, 64, 64), "image/png", "failed")
        .await;

    let failed = wait_for_metric(&buffer, Metric::CaptionFailed).await;
    assert_emf(&failed[0], &[Metric::CaptionFailed]);
    assert_eq!(failed[0]["CaptionFailed"], 1);
    let all = records(&buffer);
    assert_eq!(
        all.len(),
        1,
        "the retry and the only captioner write nothing: {all:?}"
    );
}

fn infra(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/terraform/modules")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // One space between tokens, so alignment does not matter.
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `"quoted"` string after `marker` in `text`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let start = rest.find('"')? + 1;
    Some(&rest[start..start + rest[start..].find('"')?])
}

#[test]
fn the_monitoring_terraform_reads_exactly_the_metrics_the_app_writes() {
    let monitoring = infra("monitoring/main.tf");
    let mut read = BTreeSet::new();
    // Dashboard widgets: concat([var.app_metrics_namespace, "Name"], local.app, [...]).
    for line in monitoring
        .lines()
        .filter(|l| l.contains("var.app_metrics_namespace,"))
    {
        read.insert(quoted_after(line, "var.app_metrics_namespace,").unwrap());
        assert!(line.contains("local.app,"), "not the app dimension: {line}");
    }
    // Alarms: a resource with namespace = var.app_metrics_namespace and its metric_name.
    for block in monitoring
        .split("\nresource \"")
        .filter(|b| b.contains("namespace = var.app_metrics_namespace"))
    {
        read.insert(quoted_after(block, "metric_name =").unwrap());
        assert!(
            block.contains("dimensions = local.app_dim"),
            "not the app dimension: {block}"
        );
    }
    let written: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        read, written,
        "metrics the Terraform reads vs the app writes"
    );

    // The one dimension, with the environment's name as its value.
    for dimension in [
        format!("app_dim = {{ {ENVIRONMENT} = var.environment }}"),
        format!("app = [\"{ENVIRONMENT}\", var.environment]"),
    ] {
        assert!(monitoring.contains(&dimension), "{dimension}");
    }
    // The web task gets the namespace and environment the stack gives the monitoring module
    // (modules/stack/tests/stack.tftest.hcl checks the values).
    let app_env = infra("app-env/main.tf");
    for setting in [
        "IMGCAP_METRICS_CLOUDWATCH_NAMESPACE = local.v.metrics_namespace",
        "IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT = local.v.environment",
    ] {
        assert!(app_env.contains(setting), "modules/app-env lacks {setting}");
    }
    let stack = infra("stack/main.tf");
    for wiring in [
        "metrics_namespace = local.metrics_namespace",
        "app_metrics_namespace = local.metrics_namespace",
    ] {
        assert!(stack.contains(wiring), "modules/stack lacks {wiring}");
    }
}
