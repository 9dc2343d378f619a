//! The global log subscriber: JSON lines (containers, log pipelines) or text (people), and the
//! trace export when it is configured ([`super::traces`]). What the two servers write differs
//! in a few settings, each a field of [`Logging`].

use std::error::Error as StdError;

use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::traces;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// The layout of a JSON line: the current span's fields are always under `span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLayout {
    /// The event's fields (`message` included) at the top level, not under `fields`.
    pub flatten_event: bool,
    /// Every enclosing span under `spans`, not only the current one.
    pub span_list: bool,
}

/// How a server logs. `N` writes the fields of a text line: [`DefaultFields`], or one that
/// escapes what clients send.
pub struct Logging<N = DefaultFields> {
    pub format: LogFormat,
    pub filter: EnvFilter,
    pub stream: LogStream,
    pub json: JsonLayout,
    /// Colours in text lines unless `NO_COLOR` is set; `false`: never.
    pub text_colours: bool,
    pub text_fields: N,
    /// The service name of exported spans when `OTEL_SERVICE_NAME` is unset.
    pub service: &'static str,
}

type Filtered = tracing_subscriber::layer::Layered<EnvFilter, Registry>;

/// Installs the global subscriber; fails when one is installed already. The filter applies to
/// the log lines and the exported spans alike.
pub fn init_logging<N>(logging: Logging<N>) -> Result<(), Box<dyn StdError + Send + Sync>>
where
    N: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
{
    let writer = match logging.stream {
        LogStream::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogStream::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    let lines: Box<dyn Layer<Filtered> + Send + Sync> = match logging.format {
        LogFormat::Json => lines
            .json()
            .flatten_event(logging.json.flatten_event)
            .with_current_span(true)
            .with_span_list(logging.json.span_list)
            .boxed(),
        LogFormat::Text => {
            let lines = lines.fmt_fields(logging.text_fields);
            match logging.text_colours {
                true => lines.boxed(),
                false => lines.with_ansi(false).boxed(),
            }
        }
    };
    let spans = traces::tracer_from_env(logging.service)?
        .map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    tracing_subscriber::registry()
        .with(logging.filter)
        .with(lines)
        .with(spans)
        .try_init()?;
    Ok(())
}
