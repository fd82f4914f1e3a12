use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use steadfast_core::SharedError;
use tokio::task::JoinHandle;

use crate::{ConfigError, ConfigResponse, Format};

/// A configuration that can check itself after decoding.
///
/// [`ConfigResponse::decode_validated`](crate::ConfigResponse::decode_validated)
/// and [`DecodeLayer::validated`](crate::DecodeLayer::validated) call it, so a
/// configuration that parses but makes no sense is a
/// [`ConfigError::Validation`] failure of the source, never a cached value.
///
/// ```
/// use steadfast_config::{ConfigError, ConfigResponse, Format, Validate};
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Limits {
///     max_retries: u32,
/// }
///
/// impl Validate for Limits {
///     fn validate(&self) -> Result<(), String> {
///         if self.max_retries > 10 {
///             return Err(format!("max_retries {} is above 10", self.max_retries));
///         }
///         Ok(())
///     }
/// }
///
/// let response = ConfigResponse::new(r#"{"max_retries": 99}"#, Format::Json);
/// let error = response.decode_validated::<Limits>().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "config failed validation: max_retries 99 is above 10"
/// );
/// ```
pub trait Validate {
    /// `Ok(())` when the configuration is usable, else what is wrong with it.
    fn validate(&self) -> Result<(), String>;
}

/// Bodies of at least this many bytes are decoded (and checked) on tokio's
/// blocking pool rather than on the thread that polls the load: 64 KiB.
///
/// Decoding a body takes time in proportion to its size; past a few tens
/// of kilobytes that is long enough to hold up every other task of a
/// runtime thread. A smaller body is decoded where it arrives, which costs
/// no hand-over.
pub const BLOCKING_DECODE_SIZE: usize = 64 * 1024;

/// Runs `work` (a decode, a check) on `response`: at once for a body
/// smaller than [`BLOCKING_DECODE_SIZE`] or outside a Tokio runtime, else
/// on the runtime's blocking pool. The future gives the response back with
/// what `work` returned.
///
/// A panic in `work` is resumed in the caller, as it would be inline; a
/// blocking task cancelled by a runtime shutting down is a
/// [`ConfigError::Other`].
///
/// ```
/// use steadfast_config::{ConfigResponse, Format, decode_blocking};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), steadfast_config::ConfigError> {
/// let large = format!(r#"{{"pad": "{}"}}"#, "x".repeat(100_000));
/// let response = ConfigResponse::new(large, Format::Json);
/// let (response, value) =
///     decode_blocking(response, |r| r.decode::<serde_json::Value>()).await?;
/// assert_eq!(value?["pad"].as_str().map(str::len), Some(100_000));
/// assert_eq!(response.body().len(), 100_011);
/// # Ok(())
/// # }
/// ```
pub fn decode_blocking<R, F>(response: ConfigResponse, work: F) -> DecodeTask<R>
where
    F: FnOnce(&ConfigResponse) -> R + Send + 'static,
    R: Send + 'static,
{
    let state = match tokio::runtime::Handle::try_current() {
        Ok(runtime) if response.body().len() >= BLOCKING_DECODE_SIZE => TaskState::Blocking {
            handle: runtime.spawn_blocking(move || {
                let output = work(&response);
                (response, output)
            }),
        },
        _ => {
            let output = work(&response);
            TaskState::Done {
                output: Some((response, output)),
            }
        }
    };
    DecodeTask { state }
}

pin_project! {
    /// The future of [`decode_blocking`]: the response, and what the work
    /// on it returned.
    pub struct DecodeTask<R> {
        #[pin]
        state: TaskState<R>,
    }
}

pin_project! {
    #[project = TaskStateProj]
    enum TaskState<R> {
        Done { output: Option<(ConfigResponse, R)> },
        Blocking { #[pin] handle: JoinHandle<(ConfigResponse, R)> },
    }
}

impl<R> fmt::Debug for DecodeTask<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            TaskState::Done { .. } => "done",
            TaskState::Blocking { .. } => "blocking",
        };
        f.debug_struct("DecodeTask").field("state", &state).finish()
    }
}

impl<R> Future for DecodeTask<R> {
    type Output = Result<(ConfigResponse, R), ConfigError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            TaskStateProj::Done { output } => Poll::Ready(
                output
                    .take()
                    .ok_or_else(|| ConfigError::invalid_request("decode polled again")),
            ),
            TaskStateProj::Blocking { handle } => match ready!(handle.poll(cx)) {
                Ok(output) => Poll::Ready(Ok(output)),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(error) => Poll::Ready(Err(ConfigError::Other(SharedError::new(error)))),
            },
        }
    }
}

/// Decodes `bytes` as `format` into a `T`.
pub(crate) fn decode<T: DeserializeOwned>(format: Format, bytes: &[u8]) -> Result<T, ConfigError> {
    let text = utf8(format, bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Json => serde_json::from_str(text).map_err(|error| {
            let (line, column) = match error.line() {
                0 => (None, None),
                line => (Some(line), Some(json_column(text, line, error.column()))),
            };
            decode_error(format, line, column, &error.to_string())
        }),
        Format::Toml => toml(text),
        Format::Yaml => {
            yaml_nesting(text)?;
            yaml(text)
        }
    }
}

/// The deepest nesting of collections a body may have: serde_yaml_ng's
/// and serde_json's own limit.
pub(crate) const MAX_DEPTH: usize = 128;

/// Refuses YAML whose flow collections (`[…]`, `{…}`) nest deeper than
/// [`MAX_DEPTH`], in one pass over the text, before the parser sees it: the
/// YAML parser's work grows with the square of that nesting (160 KB of
/// `{a: ` take seconds), and its own depth limit applies only after it has
/// read everything.
///
/// Brackets inside quoted scalars, comments, block scalars (`|`, `>`) and
/// plain scalars (`a[b`) are not nesting. Deep block nesting (by
/// indentation) costs the parser no more than its length and is left to
/// its limit.
fn yaml_nesting(text: &str) -> Result<(), ConfigError> {
    #[derive(PartialEq)]
    enum In {
        Plain,
        Single,
        Double,
        Comment,
        /// A tag or anchor before a node: the node still starts after it.
        Property,
        /// The lines of a block scalar below a line indented this much.
        Block(usize),
    }
    let mut state = In::Plain;
    let mut depth = 0usize;
    let (mut line, mut column) = (1usize, 0usize);
    let mut indent = 0usize;
    let mut line_start = true;
    // Whether a node may start here (a quote opens a quoted scalar, a
    // bracket a collection), as after `: `, `- `, `[`, `,`.
    let mut node_start = true;
    let mut after_space = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            indent = 0;
            line_start = true;
            after_space = true;
            match state {
                In::Comment | In::Property => state = In::Plain,
                _ => {}
            }
            if state == In::Plain && depth == 0 {
                node_start = true;
            }
            continue;
        }
        if line_start {
            if c == ' ' {
                indent += 1;
                continue;
            }
            line_start = false;
            if let In::Block(parent) = state {
                if indent > parent || c == '\r' {
                    // Content of the block scalar (or a blank line in it).
                    skip_line(&mut chars);
                    continue;
                }
                state = In::Plain;
                node_start = true;
            }
        }
        match state {
            In::Block(_) => {}
            In::Comment => {}
            In::Single => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        column += 1;
                    } else {
                        state = In::Plain;
                        node_start = false;
                    }
                }
            }
            In::Double => match c {
                '\\' => {
                    if chars.next().is_some_and(|escaped| escaped != '\n') {
                        column += 1;
                    } else {
                        line += 1;
                        column = 0;
                    }
                }
                '"' => {
                    state = In::Plain;
                    node_start = false;
                }
                _ => {}
            },
            In::Property => {
                if c == ' ' || c == '\t' {
                    state = In::Plain;
                }
            }
            In::Plain => {
                let space = c == ' ' || c == '\t' || c == '\r';
                let flow = depth > 0;
                match c {
                    _ if space => {}
                    '#' if after_space => state = In::Comment,
                    '\'' if node_start => state = In::Single,
                    '"' if node_start => state = In::Double,
                    '&' | '!' if node_start => state = In::Property,
                    '[' | '{' if node_start || flow => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(ConfigError::Decode {
                                format: Format::Yaml,
                                line: Some(line),
                                column: Some(column),
                                message: Arc::from(format!(
                                    "nested deeper than {MAX_DEPTH} levels"
                                )),
                            });
                        }
                        node_start = true;
                    }
                    ']' | '}' if flow => {
                        depth -= 1;
                        node_start = false;
                    }
                    ',' if flow => node_start = true,
                    ':' | '-' | '?' if is_blank(chars.peek().copied()) || (c == ':' && flow) => {
                        node_start = true;
                    }
                    '|' | '>' if node_start && !flow && is_block_header(chars.clone()) => {
                        state = In::Block(indent);
                        skip_line(&mut chars);
                        line += 1;
                        column = 0;
                        indent = 0;
                        line_start = true;
                        after_space = true;
                        continue;
                    }
                    _ => node_start = false,
                }
                after_space = space;
                continue;
            }
        }
        after_space = c == ' ' || c == '\t';
    }
    Ok(())
}

/// Whether `next` ends a YAML indicator (`: `, `- `, `? `).
fn is_blank(next: Option<char>) -> bool {
    matches!(next, None | Some(' ' | '\t' | '\r' | '\n'))
}

/// Whether the rest of a line after `|` or `>` is a block scalar header:
/// indentation and chomping indicators, then blanks or a comment.
fn is_block_header(rest: impl Iterator<Item = char>) -> bool {
    let mut rest = rest.skip_while(|c| c.is_ascii_digit() || *c == '+' || *c == '-');
    loop {
        match rest.next() {
            None | Some('\n') => return true,
            Some(' ' | '\t' | '\r') => {}
            Some('#') => return true,
            Some(_) => return false,
        }
    }
}

/// Skips to the end of the line, its newline included.
fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

/// Runs `T`'s own validation and maps a failure to
/// [`ConfigError::Validation`].
pub(crate) fn validate<T: Validate>(value: &T) -> Result<(), ConfigError> {
    value.validate().map_err(ConfigError::validation)
}

#[cfg(feature = "toml")]
fn toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    ::toml::from_str(text).map_err(|error: ::toml::de::Error| {
        let (line, column) = match error.span() {
            Some(span) => {
                let (line, column) = position(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        decode_error(Format::Toml, line, column, error.message())
    })
}

#[cfg(not(feature = "toml"))]
fn toml<T>(_: &str) -> Result<T, ConfigError> {
    Err(disabled(Format::Toml, "toml"))
}

#[cfg(feature = "yaml")]
fn yaml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|error| {
        let location = error.location();
        decode_error(
            Format::Yaml,
            location.as_ref().map(|l| l.line()),
            location.as_ref().map(|l| l.column()),
            &error.to_string(),
        )
    })
}

#[cfg(not(feature = "yaml"))]
fn yaml<T>(_: &str) -> Result<T, ConfigError> {
    Err(disabled(Format::Yaml, "yaml"))
}

#[cfg(any(not(feature = "toml"), not(feature = "yaml")))]
fn disabled(format: Format, feature: &str) -> ConfigError {
    ConfigError::Decode {
        format,
        line: None,
        column: None,
        message: format!("{format} support is not enabled (feature `{feature}`)").into(),
    }
}

/// The body as text, or a decode error naming where the first byte that is
/// not UTF-8 sits.
fn utf8(format: Format, bytes: &[u8]) -> Result<&str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        // The prefix up to `valid_up_to` is valid UTF-8 by definition.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let (line, column) = position(prefix, prefix.len());
        ConfigError::Decode {
            format,
            line: Some(line),
            column: Some(column),
            message: Arc::from("body is not valid UTF-8"),
        }
    })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The 1-based column, in characters, of serde_json's column on `line`,
/// which counts bytes and is zero at the start of a line.
fn json_column(text: &str, line: usize, byte_column: usize) -> usize {
    let line_text = text.split('\n').nth(line - 1).unwrap_or_default();
    let mut end = byte_column.min(line_text.len());
    while !line_text.is_char_boundary(end) {
        end += 1;
    }
    line_text[..end].chars().count().max(1)
}

/// A decode error whose message loses the trailing " at line L column C"
/// that parsers append, since line and column are fields of their own.
fn decode_error(
    format: Format,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> ConfigError {
    ConfigError::Decode {
        format,
        line,
        column,
        message: Arc::from(strip_position(message)),
    }
}

fn strip_position(message: &str) -> &str {
    if let Some(at) = message.rfind(" at line ") {
        let rest = &message[at + " at line ".len()..];
        let is_position = rest
            .split_once(" column ")
            .is_some_and(|(l, c)| is_number(l) && is_number(c));
        if is_position {
            return &message[..at];
        }
    }
    message
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("abc", 0), (1, 1));
        assert_eq!(position("abc", 2), (1, 3));
        assert_eq!(position("a\nbc", 3), (2, 2));
        assert_eq!(position("é\né", 5), (2, 2));
    }

    #[test]
    fn trailing_positions_are_stripped() {
        assert_eq!(
            strip_position("expected `,` at line 3 column 14"),
            "expected `,`"
        );
        assert_eq!(strip_position("at line nothing"), "at line nothing");
        assert_eq!(strip_position("plain"), "plain");
    }
}
