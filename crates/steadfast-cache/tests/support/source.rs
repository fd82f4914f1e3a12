//! A config source for tests: counts its calls, takes a set time, answers
//! with a numbered body or a set failure.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tower::Service;

/// What the source answers with.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// `{"name":…,"n":<call number>}`.
    Ok,
    /// This failure.
    Fail(ConfigError),
}

#[derive(Clone)]
pub(crate) struct TestSource {
    calls: Arc<AtomicUsize>,
    delay: Arc<Mutex<Duration>>,
    answer: Arc<Mutex<Answer>>,
}

impl TestSource {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            delay: Arc::new(Mutex::new(delay)),
            answer: Arc::new(Mutex::new(Answer::Ok)),
        }
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub(crate) fn fail(&self, error: ConfigError) {
        self.answer(Answer::Fail(error));
    }

    pub(crate) fn succeed(&self) {
        self.answer(Answer::Ok);
    }
}

/// The body the source gives on its `n`th call (1-based) for `name`.
pub(crate) fn body(name: &str, n: usize) -> String {
    format!("{{\"name\":\"{name}\",\"n\":{n}}}")
}

/// The body of a response, as text.
pub(crate) fn text(res: &ConfigResponse) -> &str {
    std::str::from_utf8(res.body()).unwrap()
}

impl Service<ConfigRequest> for TestSource {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = Pin<Box<dyn Future<Output = Result<ConfigResponse, ConfigError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = *self.delay.lock().unwrap();
        let answer = self.answer.lock().unwrap().clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            match answer {
                Answer::Ok => Ok(ConfigResponse::new(body(req.name(), n), Format::Json)),
                Answer::Fail(error) => Err(error),
            }
        })
    }
}

/// A cache service over a [`TestSource`], as the default layer makes it.
pub(crate) type Cached = steadfast_cache::Cache<
    TestSource,
    std::sync::Arc<str>,
    ConfigResponse,
    ConfigError,
    steadfast_cache::DefaultKey,
    steadfast_cache::MemoryStore<std::sync::Arc<str>, ConfigResponse>,
>;

/// Builds `builder` and wraps `source` in it.
pub(crate) fn build(
    source: &TestSource,
    builder: steadfast_cache::CacheLayerBuilder<ConfigResponse, ConfigError>,
) -> Cached {
    use tower::Layer;
    builder.build().unwrap().layer(source.clone())
}

/// Loads `name` through a clone of `cache`.
pub(crate) async fn get(cache: &Cached, name: &str) -> Result<ConfigResponse, ConfigError> {
    use tower::ServiceExt;
    cache.clone().oneshot(ConfigRequest::new(name)).await
}
