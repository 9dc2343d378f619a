//! The text log format's fields, with control characters escaped. Field values carry what
//! clients send (a JSON field name in a parse error, an identity provider's
//! `error_description`, a token header's `alg`); written raw, a newline in one starts a line
//! that reads like a log record of its own, and an escape sequence moves a terminal's cursor.
//! The JSON format escapes them already.

use std::borrow::Cow;
use std::fmt;

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::FormatFields;

/// `name=value` pairs separated by spaces, the message bare, as the default text format writes
/// them, with every control character of names and values escaped (`\n`, `\u{1b}`).
pub fn fields() -> impl for<'writer> FormatFields<'writer> + Send + Sync + 'static {
    format::debug_fn(
        |writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            let value = format!("{value:?}");
            match field.name() {
                "message" => write!(writer, "{}", escape(&value)),
                name => write!(writer, "{}={}", escape(name), escape(&value)),
            }
        },
    )
    .delimited(" ")
}

fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c.is_control() {
            true => escaped.extend(c.escape_default()),
            false => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("caption ünïcode"), "caption ünïcode");
        assert_eq!(
            escape("a\nINFO forged\r\t\u{1b}[2J\u{7f}"),
            "a\\nINFO forged\\r\\t\\u{1b}[2J\\u{7f}"
        );
    }
}
