//! A `reqwest::Client` as a tower `Service<http::Request<B>>` answering
//! `http::Response<reqwest::Body>`, so the steadfast HTTP source and layers
//! run on reqwest's connection pool, TLS, proxies and redirects as on
//! hyper-util's client.
//!
//! `reqwest::Client` is a `Service<reqwest::Request>`; [`ReqwestClient`]
//! takes the `http` crate's request instead, with any body that is
//! [`IntoReqwestBody`] (an empty body sends none), and boxes its errors.
//! `steadfast-config` (`HttpSource::build_with`) and `steadfast-http`
//! re-export it under their `reqwest` feature.
//!
//! ```
//! use bytes::Bytes;
//! use steadfast_reqwest::ReqwestClient;
//! use tower::ServiceExt;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = ReqwestClient::new(reqwest::Client::new());
//! // A request reqwest refuses (no host) is an error of the call, not a panic.
//! let request = http::Request::get("/app.json").body(Bytes::new())?;
//! assert!(client.oneshot(request).await.is_err());
//! # Ok(())
//! # }
//! ```

mod body;
mod client;
mod future;

pub use body::IntoReqwestBody;
pub use client::ReqwestClient;
pub use future::ReqwestFuture;
