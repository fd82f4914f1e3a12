//! The request bodies a [`ReqwestClient`](crate::ReqwestClient) sends.

use bytes::Bytes;
use http_body_util::{Empty, Full};

/// A request body that [`ReqwestClient`](crate::ReqwestClient) can send:
/// the body of the `reqwest::Request` it makes, or `None` for no body at
/// all (what a GET without one sends).
pub trait IntoReqwestBody {
    /// The body to send, or `None` for none.
    fn into_reqwest_body(self) -> Option<reqwest::Body>;
}

impl IntoReqwestBody for reqwest::Body {
    fn into_reqwest_body(self) -> Option<reqwest::Body> {
        Some(self)
    }
}

impl IntoReqwestBody for Empty<Bytes> {
    fn into_reqwest_body(self) -> Option<reqwest::Body> {
        None
    }
}

impl IntoReqwestBody for () {
    fn into_reqwest_body(self) -> Option<reqwest::Body> {
        None
    }
}

impl IntoReqwestBody for Full<Bytes> {
    fn into_reqwest_body(self) -> Option<reqwest::Body> {
        Some(reqwest::Body::wrap(self))
    }
}

/// Bodies that `reqwest::Body` is made from directly.
macro_rules! from_body {
    ($($ty:ty),* $(,)?) => {$(
        impl IntoReqwestBody for $ty {
            fn into_reqwest_body(self) -> Option<reqwest::Body> {
                Some(reqwest::Body::from(self))
            }
        }
    )*};
}

from_body!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);
