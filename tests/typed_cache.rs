//! `Loader::load::<T>()`: the decoded value is kept beside the cached bytes,
//! decoded once per version and type, and follows every change of the
//! bytes (a new version, a stale-while-revalidate refresh, an
//! invalidation, a clear).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use steadfast::StackBuilder;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format, Source, Validate};
use tower::service_fn;

/// How many times each test's types were decoded (a slot per test, so
/// tests running at once count apart).
static DECODES: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

/// The thread each test's `App` was last decoded on.
static DECODED_ON: std::sync::Mutex<[Option<std::thread::ThreadId>; 16]> =
    std::sync::Mutex::new([None; 16]);

fn decodes(slot: usize) -> usize {
    DECODES[slot].load(Ordering::SeqCst)
}

/// `{"port": …, "name": …}`, counted in `DECODES[N]` each time it is
/// decoded.
#[derive(Debug, PartialEq)]
struct App<const N: usize> {
    port: u16,
    name: String,
}

impl<'de, const N: usize> Deserialize<'de> for App<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            port: u16,
            name: String,
        }
        DECODES[N].fetch_add(1, Ordering::SeqCst);
        DECODED_ON.lock().unwrap()[N] = Some(std::thread::current().id());
        let raw = Raw::deserialize(deserializer)?;
        Ok(App {
            port: raw.port,
            name: raw.name,
        })
    }
}

impl<const N: usize> Validate for App<N> {
    fn validate(&self) -> Result<(), String> {
        if self.port == 0 {
            return Err("port must not be 0".into());
        }
        Ok(())
    }
}

/// The same body read with a `port` that must be a string: never fits.
#[derive(Debug)]
struct Named<const N: usize> {
    #[allow(dead_code)]
    port: String,
}

impl<'de, const N: usize> Deserialize<'de> for Named<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            port: String,
        }
        DECODES[N].fetch_add(1, Ordering::SeqCst);
        Raw::deserialize(deserializer).map(|raw| Named { port: raw.port })
    }
}

fn body(port: u16, name: &str) -> ConfigResponse {
    ConfigResponse::new(
        format!(r#"{{"port": {port}, "name": "{name}"}}"#),
        Format::Json,
    )
    .with_version(format!("v{port}"))
}

/// A source whose answer is the last one `set` gave it, counting its
/// calls.
#[derive(Clone, Default)]
struct Origin {
    current: Arc<std::sync::Mutex<Option<ConfigResponse>>>,
    calls: Arc<AtomicUsize>,
}

impl Origin {
    fn new(first: ConfigResponse) -> Self {
        let origin = Origin::default();
        origin.set(first);
        origin
    }

    fn set(&self, response: ConfigResponse) {
        *self.current.lock().unwrap() = Some(response);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        ConfigRequest,
        Response = ConfigResponse,
        Error = ConfigError,
        Future = std::future::Ready<Result<ConfigResponse, ConfigError>>,
    > + Clone
    + Send
    + 'static {
        let origin = self.clone();
        service_fn(move |_: ConfigRequest| {
            origin.calls.fetch_add(1, Ordering::SeqCst);
            let response = origin.current.lock().unwrap().clone();
            std::future::ready(response.ok_or_else(|| ConfigError::transport("no answer set")))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_decode_per_version_under_a_thousand_concurrent_loads() {
    const SLOT: usize = 0;
    let origin = Origin::new(body(8080, "a"));
    let loader = StackBuilder::new()
        .without_timeout()
        .build(origin.service())
        .unwrap();

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let loader = loader.clone();
            tokio::spawn(async move { loader.load::<App<SLOT>>("app").await })
        })
        .collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap().unwrap());
    }
    assert_eq!(decodes(SLOT), 1);
    assert_eq!(origin.calls(), 1);
    assert_eq!(values[0].port, 8080);
    assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));

    // Hits hand out the same value and decode nothing.
    for _ in 0..100 {
        let again = loader.load::<App<SLOT>>("app").await.unwrap();
        assert!(Arc::ptr_eq(&again, &values[0]));
    }
    assert_eq!(decodes(SLOT), 1);
}

#[tokio::test]
async fn a_large_body_is_decoded_once_off_the_runtime_threads() {
    const SLOT: usize = 1;
    let pad = "x".repeat(steadfast::config::BLOCKING_DECODE_SIZE);
    let large = ConfigResponse::new(format!(r#"{{"port": 1, "name": "{pad}"}}"#), Format::Json);
    let origin = Origin::new(large);
    let loader = StackBuilder::new()
        .without_timeout()
        .without_check()
        .build(origin.service())
        .unwrap();

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let loader = loader.clone();
            tokio::spawn(async move { loader.load::<App<SLOT>>("big").await })
        })
        .collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap().unwrap());
    }
    assert_eq!(decodes(SLOT), 1);
    let decoded_on = DECODED_ON.lock().unwrap()[SLOT];
    assert!(decoded_on.is_some());
    assert_ne!(decoded_on, Some(std::thread::current().id()));
    assert_eq!(values[0].name.len(), pad.len());
    assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
}

#[tokio::test(start_paused = true)]
async fn invalidation_and_clear_reach_the_typed_copy() {
    const SLOT: usize = 2;
    let origin = Origin::new(body(1, "one"));
    let loader = StackBuilder::new()
        .without_timeout()
        .build(origin.service())
        .unwrap();
    let cache = loader.cache().unwrap().clone();

    let first = loader.load::<App<SLOT>>("app").await.unwrap();
    assert_eq!(first.port, 1);
    origin.set(body(2, "two"));
    // Still fresh: the cached version, not decoded again.
    assert_eq!(loader.load::<App<SLOT>>("app").await.unwrap().port, 1);
    assert_eq!(decodes(SLOT), 1);

    cache.invalidate(&"app".into()).await.unwrap();
    let second = loader.load::<App<SLOT>>("app").await.unwrap();
    assert_eq!(second.port, 2);
    assert_eq!(
        loader.load_response("app").await.unwrap().version(),
        Some("v2")
    );
    assert_eq!(decodes(SLOT), 2);

    origin.set(body(3, "three"));
    cache.clear().await.unwrap();
    let third = loader.load::<App<SLOT>>("app").await.unwrap();
    assert_eq!(third.port, 3);
    assert_eq!(decodes(SLOT), 3);
    assert!(Arc::ptr_eq(
        &third,
        &loader.load::<App<SLOT>>("app").await.unwrap()
    ));
    assert_eq!(decodes(SLOT), 3);
    assert_eq!(origin.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stale_while_revalidate_refresh_reaches_the_typed_copy() {
    const SLOT: usize = 3;
    let origin = Origin::new(body(1, "one"));
    let loader = StackBuilder::new()
        .without_timeout()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(10))
                .stale_while_revalidate(Duration::from_secs(60)),
        )
        .build(origin.service())
        .unwrap();

    assert_eq!(loader.load::<App<SLOT>>("app").await.unwrap().port, 1);
    origin.set(body(2, "two"));
    tokio::time::advance(Duration::from_secs(11)).await;

    // Stale: served as it was, and refreshed in the background.
    let stale = loader.load_response("app").await.unwrap();
    assert_eq!(stale.source(), Source::Stale);
    assert_eq!(loader.load::<App<SLOT>>("app").await.unwrap().port, 1);
    assert_eq!(decodes(SLOT), 1);
    // Let the refresh run and store the new version.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(origin.calls(), 2);

    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.version(), Some("v2"));
    let fresh = loader.load::<App<SLOT>>("app").await.unwrap();
    assert_eq!(fresh.port, 2);
    assert_eq!(decodes(SLOT), 2);
    // The typed value is the response's own.
    assert!(Arc::ptr_eq(
        &fresh,
        &response.decode_shared::<App<SLOT>>().await.unwrap()
    ));
}

#[tokio::test(start_paused = true)]
async fn two_types_on_one_key_are_decoded_once_each() {
    const APP: usize = 4;
    const NAMED: usize = 5;
    let origin = Origin::new(body(8080, "a"));
    let loader = StackBuilder::new()
        .without_timeout()
        .build(origin.service())
        .unwrap();

    for _ in 0..3 {
        let error = loader.load::<Named<NAMED>>("app").await.unwrap_err();
        assert!(matches!(error, ConfigError::Decode { .. }), "{error:?}");
        let app = loader.load::<App<APP>>("app").await.unwrap();
        assert_eq!((app.port, app.name.as_str()), (8080, "a"));
    }
    assert_eq!(decodes(NAMED), 1);
    assert_eq!(decodes(APP), 1);
    // The bytes stayed cached: one load, every other call a hit.
    assert_eq!(origin.calls(), 1);
    let stats = loader.cache().unwrap().stats();
    assert_eq!((stats.misses, stats.l1_hits), (1, 5));
}

#[tokio::test(start_paused = true)]
async fn the_stack_check_decodes_for_load() {
    const SLOT: usize = 6;
    let origin = Origin::new(body(7, "seven"));
    let loader = StackBuilder::new()
        .without_timeout()
        .validate_as::<App<SLOT>>()
        .build(origin.service())
        .unwrap();

    let validated = loader.load_validated::<App<SLOT>>("app").await.unwrap();
    let plain = loader.load::<App<SLOT>>("app").await.unwrap();
    assert_eq!(validated.port, 7);
    // Decoded once, by the check at the source; both loads share it.
    assert_eq!(decodes(SLOT), 1);
    assert!(Arc::ptr_eq(&validated, &plain));
}

#[tokio::test(start_paused = true)]
async fn a_failed_validation_is_an_error_for_that_call_only() {
    const SLOT: usize = 7;
    let origin = Origin::new(body(0, "zero"));
    let loader = StackBuilder::new()
        .without_timeout()
        .build(origin.service())
        .unwrap();

    for _ in 0..2 {
        let error = loader.load_validated::<App<SLOT>>("app").await.unwrap_err();
        assert!(
            matches!(&error, ConfigError::Validation { .. }),
            "{error:?}"
        );
        assert_eq!(loader.load::<App<SLOT>>("app").await.unwrap().port, 0);
    }
    assert_eq!(decodes(SLOT), 1);
}

#[tokio::test(start_paused = true)]
async fn a_version_written_in_from_outside_shares_its_value() {
    const SLOT: usize = 8;
    let origin = Origin::new(body(1, "one"));
    let loader = StackBuilder::new()
        .without_timeout()
        .build(origin.service())
        .unwrap();
    assert_eq!(loader.load::<App<SLOT>>("app").await.unwrap().port, 1);

    // As a watcher does: decode the new version, publish its value and
    // write the same response through the cache.
    let update = body(2, "two");
    let published = update.decode_shared::<App<SLOT>>().await.unwrap();
    let cache = loader.cache().unwrap();
    cache.insert("app".into(), update.clone()).await.unwrap();

    let loaded = loader.load::<App<SLOT>>("app").await.unwrap();
    assert!(Arc::ptr_eq(&loaded, &published));
    assert_eq!(loaded.port, 2);
    assert_eq!(decodes(SLOT), 2);
    assert_eq!(origin.calls(), 1);
}
