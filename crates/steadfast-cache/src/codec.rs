//! [`Codec`]: how a store outside the process turns values into bytes and
//! back.

use std::error::Error;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A boxed encode or decode failure.
pub type CodecError = Box<dyn Error + Send + Sync + 'static>;

/// Turns values into bytes and back, for stores that keep values outside
/// the process: inside the envelope of a `RedisStore` (feature `redis`) or
/// a [`FileStore`](crate::FileStore) file.
///
/// The default is [`JsonCodec`]. Implement this trait for a value type that
/// is not `serde`-able, or for a denser format.
///
/// ```
/// use steadfast_cache::{Codec, CodecError};
///
/// /// Stores strings as their raw UTF-8 bytes.
/// #[derive(Debug, Clone, Copy)]
/// struct Utf8;
///
/// impl Codec<String> for Utf8 {
///     fn encode(&self, value: &String, out: &mut Vec<u8>) -> Result<(), CodecError> {
///         out.extend_from_slice(value.as_bytes());
///         Ok(())
///     }
///
///     fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
///         Ok(std::str::from_utf8(bytes)?.to_owned())
///     }
/// }
///
/// let mut out = Vec::new();
/// Utf8.encode(&"hi".to_owned(), &mut out).unwrap();
/// assert_eq!(Utf8.decode(&out).unwrap(), "hi");
/// ```
pub trait Codec<V>: Clone + Send + Sync + 'static {
    /// Appends the encoding of `value` to `out`.
    fn encode(&self, value: &V, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a value from `bytes`.
    fn decode(&self, bytes: &[u8]) -> Result<V, CodecError>;
}

/// The default [`Codec`]: JSON through `serde_json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonCodec;

impl<V> Codec<V> for JsonCodec
where
    V: Serialize + DeserializeOwned,
{
    fn encode(&self, value: &V, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(Into::into)
    }

    fn decode(&self, bytes: &[u8]) -> Result<V, CodecError> {
        serde_json::from_slice(bytes).map_err(Into::into)
    }
}
