//! Loads a typed configuration over HTTP from a server on loopback.
//!
//! The source is an `HttpSource` (hyper-util client, timeout, size limit,
//! conditional GETs); the `DecodeLayer` on top turns each response into a
//! checked `RemoteAppConfig`. The second load is answered `304 Not
//! Modified`, and the source serves the body it remembered.
//!
//! ```text
//! cargo run --example http_source
//! ```

#[path = "support/config_server.rs"]
mod config_server;

use std::time::Duration;

use config_server::{ConfigServer, Mode, RemoteAppConfig};
use steadfast::config::{ConfigRequest, DecodeLayer, HttpSource};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = ConfigServer::start(Mode::Healthy, Duration::from_millis(200)).await;
    println!("config server on {}", server.base_url());

    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}/{profile}.json")
        .bearer_token("demo-token")
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut service = ServiceBuilder::new()
        .layer(DecodeLayer::<RemoteAppConfig>::new().validated())
        .service(source);

    let request = ConfigRequest::new("remote-app").with_profile("prod");
    for attempt in 1..=2 {
        let config = service.ready().await?.call(request.clone()).await?;
        println!(
            "load {attempt}: version {} from {}, {} requests served so far",
            config.version().unwrap_or("-"),
            config.source(),
            server.requests(),
        );
        println!("{:#?}", *config);
    }
    Ok(())
}
