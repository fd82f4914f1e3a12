//! The freshness windows against a reference model: for any TTL,
//! stale-while-revalidate and stale-if-error windows, a call at any moment
//! after a load is answered as RFC 5861 says, whether the source is up or
//! down.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use http::StatusCode;
use proptest::prelude::*;
use steadfast_cache::CacheLayer;
use steadfast_config::ConfigError;
use steadfast_core::Source;
use support::{TestSource, body, build, get, text};
use tokio::time::{Instant, advance};

/// What a call should get: the source of the answer and the load whose
/// body it carries, or the source's error.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Served(Source, usize),
    Failed,
}

/// The model: an entry loaded at 0 is fresh until `ttl`, served stale
/// while refreshing until `ttl + swr`, served stale on failure until
/// `ttl + swr + sie`, then gone.
fn model(ttl: u64, swr: u64, sie: u64, at: u64, source_up: bool) -> Expect {
    if at < ttl {
        Expect::Served(Source::Cache, 1)
    } else if at < ttl + swr {
        Expect::Served(Source::Stale, 1)
    } else if source_up {
        Expect::Served(Source::Origin, 2)
    } else if at < ttl + swr + sie {
        Expect::Served(Source::Stale, 1)
    } else {
        Expect::Failed
    }
}

async fn observe(ttl: u64, swr: u64, sie: u64, at: u64, source_up: bool) -> (Expect, Duration) {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_millis(ttl))
            .stale_while_revalidate(Duration::from_millis(swr))
            .stale_if_error(Duration::from_millis(sie))
            .provenance(),
    );
    get(&cache, "app").await.unwrap();
    advance(Duration::from_millis(at)).await;
    if !source_up {
        source.fail(ConfigError::Status {
            code: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: None,
        });
    }
    let asked = Instant::now();
    let got = match get(&cache, "app").await {
        Ok(res) => {
            let n = (1..=2)
                .find(|n| text(&res) == body("app", *n))
                .expect("a body the source gave");
            Expect::Served(res.source(), n)
        }
        Err(_) => Expect::Failed,
    };
    (got, asked.elapsed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn calls_are_answered_as_the_windows_say(
        ttl in 1u64..5_000,
        swr in prop_oneof![Just(0u64), 1u64..5_000],
        sie in prop_oneof![Just(0u64), 1u64..5_000],
        near in 0usize..6,
        offset in -2i64..=2,
        anywhere in 0u64..16_000,
        source_up in any::<bool>(),
    ) {
        // Half the calls land within 2 ms of a window's end.
        let ends = [ttl, ttl + swr, ttl + swr + sie];
        let at = match ends.get(near) {
            Some(end) => end.saturating_add_signed(offset),
            None => anywhere,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let (got, waited) = rt.block_on(observe(ttl, swr, sie, at, source_up));
        prop_assert_eq!(got, model(ttl, swr, sie, at, source_up));
        prop_assert_eq!(waited, Duration::ZERO);
    }
}
