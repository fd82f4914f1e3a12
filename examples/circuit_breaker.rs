//! A primary config loader that fails about 30% of its calls (a seeded
//! random generator decides which), behind a circuit breaker that opens
//! after 3 consecutive failures, stays open 1 s, then lets one probe
//! through. Each attempt prints its outcome and the circuit's state.
//!
//! Time is compressed: an attempt every 100 ms, so the whole run takes about
//! four seconds.
//!
//! ```text
//! cargo run --example circuit_breaker
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_breaker::{CircuitBreakerLayer, Event};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tokio::time::{Instant, sleep};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const ATTEMPTS: u32 = 40;
const FAILURE_RATE: f64 = 0.3;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let at = move || start.elapsed().as_secs_f64();

    let breaker = CircuitBreakerLayer::builder()
        .name("primary")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(1))
        .on_event(move |event: &Event| {
            if let Event::StateChanged {
                from, to, cause, ..
            } = event
            {
                println!("[{:>5.2}s]   circuit {from} -> {to} ({cause:?})", at());
            }
        })
        .build()?;
    let handle = breaker.handle();

    // The primary loader: 20 ms per load, about 30% of them fail.
    let rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(4)));
    let primary = service_fn(move |request: ConfigRequest| {
        let fails = rng.lock().unwrap().f64() < FAILURE_RATE;
        async move {
            sleep(Duration::from_millis(20)).await;
            if fails {
                Err(ConfigError::transport(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )))
            } else {
                let body = format!(r#"{{"name": "{}", "feature": true}}"#, request.name());
                Ok(ConfigResponse::new(body, Format::Json))
            }
        }
    });
    let mut loader = ServiceBuilder::new().layer(breaker).service(primary);

    for attempt in 1..=ATTEMPTS {
        let result = loader.ready().await?.call(ConfigRequest::new("app")).await;
        let outcome = match &result {
            Ok(response) => format!("loaded {} bytes", response.body().len()),
            Err(ConfigError::CircuitOpen(open)) => {
                format!("rejected, next probe in {:.0?}", open.remaining())
            }
            Err(error) => format!("failed: {error}"),
        };
        println!(
            "[{:>5.2}s] attempt {attempt:>2}: {outcome:<40} state: {}",
            at(),
            handle.state()
        );
        sleep(Duration::from_millis(100)).await;
    }

    let counters = handle.counters();
    println!(
        "\n{} calls reached the loader ({} ok, {} failed), {} were rejected; the circuit opened {} times",
        counters.calls, counters.successes, counters.failures, counters.rejected, counters.opened
    );
    Ok(())
}
