//! Long polling: the blocking query of Consul, Apollo and Nacos. A request
//! that asks to wait ([`ConfigRequest::with_wait`]) carries the index the
//! server answered last for its key and the wait; the server holds it
//! until the configuration changes or the wait ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderMap, Uri};

use crate::{BuildError, ConfigRequest};

/// How many keys' indexes a source remembers; past that the oldest half is
/// forgotten (their next poll is answered at once, and remembered again).
const MAX_INDEXES: usize = 4096;

/// How an [`HttpSource`](crate::HttpSource) asks the server to hold a
/// request until its configuration changes, for
/// [`HttpSourceBuilder::long_poll`](crate::HttpSourceBuilder::long_poll).
///
/// Each answer's index header is remembered per key. A request that asks
/// to wait ([`ConfigRequest::with_wait`], as the watcher's polls do with
/// [`WatchBuilder::long_poll`](crate::watch::WatchBuilder::long_poll)) and
/// whose key has an index gets `?<index>=<last index>&<wait>=<wait>`
/// added to its URL, and its timeout lengthened by the wait; any other
/// request is sent as usual. An index that goes backwards (the server's
/// state was restored) is forgotten, so the next request is answered at
/// once, as Consul's documentation asks.
///
/// ```
/// use steadfast_config::{HttpSource, LongPoll};
///
/// let source = HttpSource::builder("http://127.0.0.1:8500")
///     .path("/v1/kv/{name}")
///     .long_poll(LongPoll::consul())
///     .build()?;
/// # let _ = source;
/// # Ok::<(), steadfast_config::BuildError>(())
/// ```
#[derive(Clone)]
pub struct LongPoll {
    index_param: Arc<str>,
    wait_param: Arc<str>,
    index_header: HeaderName,
}

impl LongPoll {
    /// Consul's blocking queries: `?index=N&wait=30s`, the index in the
    /// `X-Consul-Index` answer header.
    pub fn consul() -> Self {
        Self {
            index_param: Arc::from("index"),
            wait_param: Arc::from("wait"),
            index_header: HeaderName::from_static("x-consul-index"),
        }
    }

    /// Another server's names: the query parameters of the index and of
    /// the wait, and the answer header that carries the index. Names that
    /// are empty, or not valid in a query or a header, are refused.
    pub fn new(
        index_param: &str,
        wait_param: &str,
        index_header: &str,
    ) -> Result<Self, BuildError> {
        for (setting, param) in [("index_param", index_param), ("wait_param", wait_param)] {
            if param.is_empty() || !param.bytes().all(is_plain) {
                return Err(BuildError::setting(
                    setting,
                    "must be a non-empty query parameter name of letters, digits, '-', '_', '.' or '~'",
                ));
            }
        }
        let index_header = HeaderName::from_bytes(index_header.as_bytes())
            .map_err(|_| BuildError::setting("index_header", "must be a valid header name"))?;
        Ok(Self {
            index_param: Arc::from(index_param),
            wait_param: Arc::from(wait_param),
            index_header,
        })
    }
}

impl fmt::Debug for LongPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongPoll")
            .field("index_param", &self.index_param)
            .field("wait_param", &self.wait_param)
            .field("index_header", &self.index_header)
            .finish()
    }
}

/// Characters a query parameter or an index may hold unescaped.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// A source's long-poll settings and the index it last saw per key.
#[derive(Debug)]
pub(crate) struct LongPolls {
    config: LongPoll,
    indexes: Mutex<HashMap<Arc<str>, Arc<str>>>,
}

impl LongPolls {
    pub(crate) fn new(config: LongPoll) -> Self {
        Self {
            config,
            indexes: Mutex::new(HashMap::new()),
        }
    }

    /// How long a request for `req` may take: `timeout`, plus the wait of
    /// a request that asks to be held.
    pub(crate) fn timeout(
        polls: Option<&Self>,
        req: &ConfigRequest,
        timeout: Duration,
    ) -> Duration {
        match (polls, req.wait()) {
            (Some(_), Some(wait)) => timeout.saturating_add(wait),
            _ => timeout,
        }
    }

    /// Adds the index and the wait to `uri`, for a request that asks to
    /// wait and whose key has an index.
    pub(crate) fn hold(&self, req: &ConfigRequest, uri: &mut Uri) {
        let Some(wait) = req.wait() else { return };
        let Some(index) = self
            .indexes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(req.key())
            .cloned()
        else {
            return;
        };
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let separator = if uri.query().is_some() { '&' } else { '?' };
        let held = format!(
            "{path_and_query}{separator}{}={index}&{}={}",
            self.config.index_param,
            self.config.wait_param,
            wait_text(wait)
        );
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = held.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(held) = Uri::from_parts(parts) {
                *uri = held;
            }
        }
    }

    /// Remembers the index an answer for `req` carries.
    pub(crate) fn observe(&self, req: &ConfigRequest, headers: &HeaderMap) {
        let Some(index) = headers
            .get(&self.config.index_header)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.bytes().all(is_plain))
        else {
            return;
        };
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        let key = req.shared_key();
        let backwards = indexes.get(key).is_some_and(|last| {
            matches!((last.parse::<u64>(), index.parse::<u64>()), (Ok(last), Ok(now)) if now < last)
        });
        if backwards {
            indexes.remove(key);
            return;
        }
        if indexes.len() >= MAX_INDEXES && !indexes.contains_key(key) {
            let drop: Vec<Arc<str>> = indexes.keys().take(MAX_INDEXES / 2).cloned().collect();
            for old in drop {
                indexes.remove(&old);
            }
        }
        indexes.insert(key.clone(), Arc::from(index));
    }
}

/// A wait as Consul reads it: whole seconds as `30s`, else milliseconds.
fn wait_text(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{}ms", wait.as_millis().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_held_request_carries_the_last_index_and_the_wait() {
        let polls = LongPolls::new(LongPoll::consul());
        let req = ConfigRequest::new("app").with_wait(Duration::from_secs(30));
        let mut uri: Uri = "http://h/v1/kv/app?raw".parse().unwrap();
        polls.hold(&req, &mut uri);
        assert_eq!(uri, "http://h/v1/kv/app?raw", "no index yet");

        let mut headers = HeaderMap::new();
        headers.insert("x-consul-index", HeaderValue::from_static("42"));
        polls.observe(&req, &headers);
        polls.hold(&req, &mut uri);
        assert_eq!(uri, "http://h/v1/kv/app?raw&index=42&wait=30s");

        let mut plain: Uri = "http://h/app".parse().unwrap();
        polls.hold(&ConfigRequest::new("app"), &mut plain);
        assert_eq!(plain, "http://h/app", "a request that does not wait");
        let mut short: Uri = "http://h/app".parse().unwrap();
        polls.hold(
            &ConfigRequest::new("app").with_wait(Duration::from_millis(1500)),
            &mut short,
        );
        assert_eq!(short, "http://h/app?index=42&wait=1500ms");
    }

    #[test]
    fn an_index_going_backwards_is_forgotten() {
        let polls = LongPolls::new(LongPoll::consul());
        let req = ConfigRequest::new("app").with_wait(Duration::from_secs(5));
        let mut headers = HeaderMap::new();
        headers.insert("x-consul-index", HeaderValue::from_static("42"));
        polls.observe(&req, &headers);
        headers.insert("x-consul-index", HeaderValue::from_static("7"));
        polls.observe(&req, &headers);
        let mut uri: Uri = "http://h/app".parse().unwrap();
        polls.hold(&req, &mut uri);
        assert_eq!(uri, "http://h/app");
        headers.insert("x-consul-index", HeaderValue::from_static("a b"));
        polls.observe(&req, &headers);
        polls.hold(&req, &mut uri);
        assert_eq!(uri, "http://h/app", "an index that is not plain is ignored");
    }

    #[test]
    fn names_are_checked() {
        assert!(LongPoll::new("index", "wait", "x-index").is_ok());
        assert!(LongPoll::new("", "wait", "x-index").is_err());
        assert!(LongPoll::new("in dex", "wait", "x-index").is_err());
        assert!(LongPoll::new("index", "wait", "bad header").is_err());
    }
}
