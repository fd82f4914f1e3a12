#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tower::{Service, ServiceExt, service_fn};

/// A source that answers each request with `answer(request)`.
pub fn source(
    answer: impl Fn(ConfigRequest) -> Result<ConfigResponse, ConfigError> + Clone,
) -> impl Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = impl Future<Output = Result<ConfigResponse, ConfigError>>,
> + Clone {
    service_fn(move |req: ConfigRequest| std::future::ready(answer(req)))
}

/// A source that always times out, counting its calls.
pub fn failing(
    calls: Arc<AtomicUsize>,
) -> impl Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone {
    source(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(ConfigError::Timeout(Duration::from_secs(1)))
    })
}

/// A source that answers every request with `body`, versioned with the
/// request's name.
pub fn answering(
    body: &'static str,
) -> impl Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone {
    source(move |req| {
        Ok(ConfigResponse::new(body, Format::Json).with_version(req.name().to_owned()))
    })
}

/// A source that fails with the error `make` builds.
pub fn failing_with(
    make: fn() -> ConfigError,
) -> impl Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone {
    source(move |_| Err(make()))
}

/// One call through `service`, driven ready first.
pub async fn call<S>(service: &mut S, name: &str) -> Result<S::Response, S::Error>
where
    S: Service<ConfigRequest>,
{
    service.ready().await?.call(ConfigRequest::new(name)).await
}

/// The body of a response as a string.
pub fn body(response: &ConfigResponse) -> &str {
    std::str::from_utf8(response.body()).unwrap()
}
