//! The app's CloudWatch metrics in AWS deployments, in the CloudWatch embedded metric format
//! (EMF): one JSON object per line on stdout. The ECS `awslogs` driver sends each line as one
//! log event, and CloudWatch Logs extracts the metrics from every event that is an EMF document
//! (no `PutMetricData` call, no agent). Off unless `metrics.cloudwatch_namespace` is set.
//!
//! The monitoring Terraform (dashboard, caption-failure alarm) reads exactly the metrics of
//! [`Metric::ALL`] with the one dimension [`ENVIRONMENT`]; `webapp/tests/api/cloudwatch.rs`
//! keeps the two in step.
//!
//! Records bypass `tracing`: its formatter would wrap the JSON in a log line of its own, and
//! CloudWatch reads an event as EMF only when the whole message is the JSON object.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

/// The one dimension of every metric: the deployment's environment (`dev`, `prod`, ...).
pub const ENVIRONMENT: &str = "Environment";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A caption job done (1).
    CaptionSucceeded,
    /// How long the answering captioner took for a done job.
    CaptionLatency,
    /// A caption job failed for good, attempts spent (1).
    CaptionFailed,
    /// The chain passed over a captioner (error, timeout, open circuit) to the next one (1).
    CaptionerFailover,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Self::CaptionSucceeded,
        Self::CaptionLatency,
        Self::CaptionFailed,
        Self::CaptionerFailover,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::CaptionSucceeded => "CaptionSucceeded",
            Self::CaptionLatency => "CaptionLatency",
            Self::CaptionFailed => "CaptionFailed",
            Self::CaptionerFailover => "CaptionerFailover",
        }
    }

    /// The CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Self::CaptionLatency => "Milliseconds",
            _ => "Count",
        }
    }
}

/// Where the records go: stdout, or any writer (the tests read a buffer).
#[derive(Clone)]
pub struct EmfOutput(Arc<Mutex<dyn Write + Send>>);

impl EmfOutput {
    pub fn stdout() -> Self {
        Self(Arc::new(Mutex::new(std::io::stdout())))
    }

    pub fn new(writer: Arc<Mutex<dyn Write + Send>>) -> Self {
        Self(writer)
    }
}

impl std::fmt::Debug for EmfOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmfOutput")
    }
}

/// Writes EMF records into one namespace, with the `Environment` dimension.
#[derive(Debug)]
pub struct Emf {
    namespace: String,
    environment: String,
    output: EmfOutput,
}

impl Emf {
    pub fn new(namespace: &str, environment: &str, output: EmfOutput) -> Self {
        Self {
            namespace: namespace.to_owned(),
            environment: environment.to_owned(),
            output,
        }
    }

    /// The EMF document of `values` at `timestamp_ms` (milliseconds since the epoch), one line.
    pub fn document(&self, timestamp_ms: i64, values: &[(Metric, u64)]) -> String {
        let definitions: Vec<Value> = values
            .iter()
            .map(|(metric, _)| json!({"Name": metric.name(), "Unit": metric.unit()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[ENVIRONMENT]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert(ENVIRONMENT.into(), self.environment.clone().into());
        for (metric, value) in values {
            root.insert(metric.name().into(), (*value).into());
        }
        Value::Object(root).to_string()
    }

    /// Writes one record now, as a single line in one write (lines of `tracing`, on the same
    /// stdout, never interleave with it).
    pub fn emit(&self, values: &[(Metric, u64)]) {
        let mut line = self.document(crate::core::domain::now_ms(), values);
        line.push('\n');
        let mut out = self.output.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %err, "cannot write a CloudWatch metrics record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_an_emf_document_on_one_line() {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let emf = Emf::new("imgcap", "prod", EmfOutput::new(buffer.clone()));
        emf.emit(&[(Metric::CaptionSucceeded, 1), (Metric::CaptionLatency, 840)]);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text}"
        );
        let doc: Value = serde_json::from_str(text.trim_end()).unwrap();

        let now = crate::core::domain::now_ms();
        let timestamp = doc["_aws"]["Timestamp"].as_i64().expect("milliseconds");
        assert!((now - 60_000..=now).contains(&timestamp), "{timestamp}");
        assert_eq!(doc["_aws"].as_object().unwrap().len(), 2, "{doc}");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"],
            json!([{
                "Namespace": "imgcap",
                "Dimensions": [["Environment"]],
                "Metrics": [
                    {"Name": "CaptionSucceeded", "Unit": "Count"},
                    {"Name": "CaptionLatency", "Unit": "Milliseconds"},
                ],
            }])
        );
        // The dimension and every metric are members of the root, as the directive names them.
        assert_eq!(doc["Environment"], "prod");
        assert_eq!(doc["CaptionSucceeded"], 1);
        assert_eq!(doc["CaptionLatency"], 840);
        assert_eq!(doc.as_object().unwrap().len(), 4, "nothing else: {doc}");
    }

    #[test]
    fn names_and_units() {
        let named: Vec<_> = Metric::ALL.iter().map(|m| (m.name(), m.unit())).collect();
        assert_eq!(
            named,
            [
                ("CaptionSucceeded", "Count"),
                ("CaptionLatency", "Milliseconds"),
                ("CaptionFailed", "Count"),
                ("CaptionerFailover", "Count"),
            ]
        );
        let emf = Emf::new("ns", "dev", EmfOutput::stdout());
        let doc: Value =
            serde_json::from_str(&emf.document(1_700_000_000_123, &[(Metric::CaptionFailed, 1)]))
                .unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123i64);
        assert_eq!(doc["CaptionFailed"], 1);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "CaptionFailed", "Unit": "Count"}])
        );
    }
}
