//! The global log subscriber: JSON lines (containers, log pipelines) or text (people). What
//! the two servers write differs in a few settings, each a field of [`Logging`].

use std::error::Error as StdError;

use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

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
}

/// Installs the global subscriber; fails when one is installed already.
pub fn init_logging<N>(logging: Logging<N>) -> Result<(), Box<dyn StdError + Send + Sync>>
where
    N: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
{
    let writer = match logging.stream {
        LogStream::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogStream::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(logging.filter)
        .with_writer(writer);
    match logging.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(logging.json.flatten_event)
            .with_current_span(true)
            .with_span_list(logging.json.span_list)
            .try_init(),
        LogFormat::Text => {
            let builder = builder.fmt_fields(logging.text_fields);
            match logging.text_colours {
                true => builder.try_init(),
                false => builder.with_ansi(false).try_init(),
            }
        }
    }
}
