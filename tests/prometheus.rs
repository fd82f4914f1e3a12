//! `examples/prometheus.rs`, scraped: after its scripted outage the
//! `/metrics` page holds every steadfast series the outage moved, with the
//! exact counts, and the load latency histogram by outcome.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/prometheus.rs"]
mod example;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

/// The samples of a Prometheus text page: series (name and labels) to value.
fn samples(page: &str) -> BTreeMap<String, f64> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_the_scripted_outage_shows_what_happened() {
    let addr: SocketAddr = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    example::install_exporter(addr).unwrap();
    let metrics = example::scripted_outage().await.unwrap();
    let page = example::scrape(addr).await.unwrap();
    let samples = samples(&page);
    let value = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in the scrape:\n{page}"))
    };

    // What the application saw: 2 hits, 2 misses, 3 stale answers, 1
    // fallback answer, no error; the counters agree with the loader's own.
    assert_eq!(metrics.answered(), 8);
    for (series, expected) in [
        ("steadfast_cache_l1_hits_total", 2.0),
        ("steadfast_cache_misses_total", 2.0),
        ("steadfast_cache_stale_served_total", 3.0),
        ("steadfast_loader_fallback_answers_total", 1.0),
        ("steadfast_loader_errors_total", 0.0),
        ("steadfast_origin_loads_total", metrics.primary_loads as f64),
        ("steadfast_retry_retries_total", metrics.retries as f64),
        (r#"steadfast_breaker_opened_total{breaker="default"}"#, 1.0),
        (r#"steadfast_breaker_closed_total{breaker="default"}"#, 1.0),
        (
            r#"steadfast_config_http_requests_total{outcome="loaded"}"#,
            1.0,
        ),
        (
            r#"steadfast_config_http_requests_total{outcome="not_modified"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(series), expected, "{series}");
    }
    assert_eq!(
        (
            metrics.primary_loads,
            metrics.retries,
            metrics.circuit_breaker_opens
        ),
        (6, 2, 1)
    );
    // A series appears with its first count: the rejections, if any, match.
    let rejected = samples
        .get(r#"steadfast_breaker_rejected_total{breaker="default"}"#)
        .copied()
        .unwrap_or(0.0);
    assert_eq!(rejected, metrics.circuit_breaker_rejections as f64);

    // The latency histogram: one count per answered load, by outcome, and
    // every load under the 2.5 s bucket.
    for (outcome, count) in [
        ("hit", 2.0),
        ("miss", 2.0),
        ("stale", 3.0),
        ("fallback", 1.0),
        ("error", 0.0),
    ] {
        let count_series =
            format!(r#"steadfast_loader_load_duration_seconds_count{{outcome="{outcome}"}}"#);
        assert_eq!(value(&count_series), count, "{count_series}");
        let under = format!(
            r#"steadfast_loader_load_duration_seconds_bucket{{outcome="{outcome}",le="2.5"}}"#
        );
        assert_eq!(value(&under), count, "{under}");
    }
    // Hits answer from memory: under a millisecond each.
    assert_eq!(
        value(r#"steadfast_loader_load_duration_seconds_bucket{outcome="hit",le="0.001"}"#),
        2.0
    );
}
