//! The serde form of [`ConfigResponse`], for stores that hold responses
//! outside the process (Redis).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use steadfast_core::Source;
use tokio::time::Instant;

use crate::{ConfigResponse, Format, Typed};

#[derive(Serialize)]
struct WireOut<'a> {
    body: Cow<'a, str>,
    encoding: &'static str,
    format: Format,
    version: Option<&'a str>,
    weak_version: bool,
    fetched_at_ms: u64,
    source: &'static str,
}

#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(borrow)]
    body: Cow<'a, str>,
    #[serde(borrow)]
    encoding: Cow<'a, str>,
    format: Format,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(default)]
    weak_version: bool,
    fetched_at_ms: u64,
    #[serde(borrow)]
    source: Cow<'a, str>,
}

const UTF8: &str = "utf8";
const BASE64: &str = "base64";

/// A response serializes as a map: `body` (the text when it is UTF-8, else
/// base64, as `encoding` says), `format`, `version`, `fetched_at_ms` (wall
/// clock, unix milliseconds) and `source`.
///
/// The age survives the trip: `fetched_at` is converted to the wall clock on
/// the way out and back to a [`tokio::time::Instant`] the same age on the way
/// in.
impl Serialize for ConfigResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (body, encoding) = match std::str::from_utf8(self.body()) {
            Ok(text) => (Cow::Borrowed(text), UTF8),
            Err(_) => (Cow::Owned(base64::encode(self.body())), BASE64),
        };
        WireOut {
            body,
            encoding,
            format: self.format(),
            version: self.version(),
            weak_version: self.is_weak_version(),
            fetched_at_ms: unix_millis(self.fetched_at(), Instant::now(), SystemTime::now()),
            source: self.source().as_str(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConfigResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireIn::deserialize(deserializer)?;
        let body = match &*wire.encoding {
            UTF8 => Bytes::from(wire.body.into_owned()),
            BASE64 => Bytes::from(
                base64::decode(&wire.body)
                    .ok_or_else(|| de::Error::custom("body is not valid base64"))?,
            ),
            other => {
                return Err(de::Error::unknown_variant(other, &[UTF8, BASE64]));
            }
        };
        let source = source::<D::Error>(&wire.source)?;
        let fetched_at = instant_of(wire.fetched_at_ms, Instant::now(), SystemTime::now());
        let mut response = ConfigResponse::new(body, wire.format)
            .with_fetched_at(fetched_at)
            .with_source(source);
        if let Some(version) = wire.version {
            response = response.with_version(&*version);
        }
        Ok(response.with_weak_version(wire.weak_version))
    }
}

fn source<E: de::Error>(name: &str) -> Result<Source, E> {
    match name {
        "origin" => Ok(Source::Origin),
        "cache" => Ok(Source::Cache),
        "stale" => Ok(Source::Stale),
        "fallback" => Ok(Source::Fallback),
        other => Err(E::unknown_variant(
            other,
            &["origin", "cache", "stale", "fallback"],
        )),
    }
}

#[derive(Serialize)]
struct TypedOut<'a, T> {
    value: &'a T,
    format: Format,
    version: Option<&'a str>,
    fetched_at_ms: u64,
    source: &'static str,
}

#[derive(Deserialize)]
struct TypedIn<'a, T> {
    value: T,
    format: Format,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    fetched_at_ms: u64,
    #[serde(borrow)]
    source: Cow<'a, str>,
}

/// A typed value serializes as a map: `value`, `format`, `version`,
/// `fetched_at_ms` (wall clock, unix milliseconds) and `source`; its age
/// survives the trip as a response's does.
impl<T: Serialize> Serialize for Typed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TypedOut {
            value: self.value(),
            format: self.format(),
            version: self.version(),
            fetched_at_ms: unix_millis(self.fetched_at(), Instant::now(), SystemTime::now()),
            source: self.source().as_str(),
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Typed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = TypedIn::<T>::deserialize(deserializer)?;
        Ok(Typed::from_parts(
            wire.value,
            wire.version.map(|v| Arc::from(&*v)),
            wire.format,
            instant_of(wire.fetched_at_ms, Instant::now(), SystemTime::now()),
            source::<D::Error>(&wire.source)?,
        ))
    }
}

/// A format serializes as its short name (`json`, `toml`, `yaml`).
impl Serialize for Format {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        Format::from_extension(&name)
            .ok_or_else(|| de::Error::unknown_variant(&name, &["json", "toml", "yaml"]))
    }
}

/// The wall-clock time of `fetched_at`, given the same moment `now` on both
/// clocks.
fn unix_millis(fetched_at: Instant, now: Instant, wall: SystemTime) -> u64 {
    let age = now.saturating_duration_since(fetched_at);
    let wall = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(wall.saturating_sub(age).as_millis()).unwrap_or(u64::MAX)
}

/// The instant of the wall-clock time `millis`, given the same moment `now`
/// on both clocks. A time in the future counts as now; an age older than the
/// monotonic clock can express counts from the clock's earliest instant.
fn instant_of(millis: u64, now: Instant, wall: SystemTime) -> Instant {
    let wall = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let age = wall.saturating_sub(Duration::from_millis(millis));
    now.checked_sub(age).unwrap_or_else(|| earliest(now, age))
}

fn earliest(now: Instant, mut age: Duration) -> Instant {
    while !age.is_zero() {
        age /= 2;
        if let Some(instant) = now.checked_sub(age) {
            return instant;
        }
    }
    now
}

/// Standard base64 (RFC 4648, with padding).
pub(crate) mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Encodes `bytes`.
    pub(crate) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes `text`, or `None` when it is not padded standard base64.
    pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.as_bytes();
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::with_capacity(text.len() / 4 * 3);
        let chunks = text.len() / 4;
        for (index, chunk) in text.chunks(4).enumerate() {
            let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
            if padding > 2 || (padding > 0 && index + 1 != chunks) {
                return None;
            }
            let mut n = 0u32;
            for &c in &chunk[..4 - padding] {
                n = n << 6 | u32::from(value(c)?);
            }
            n <<= 6 * padding as u32;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - padding]);
        }
        Some(out)
    }

    fn value(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64::encode(plain.as_bytes()), encoded);
            assert_eq!(base64::decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64::decode(&base64::encode(&all)), Some(all));
    }

    #[test]
    fn base64_rejects_garbage() {
        assert_eq!(base64::decode("Zm9"), None);
        assert_eq!(base64::decode("Zm9*"), None);
        assert_eq!(base64::decode("Z==="), None);
        assert_eq!(base64::decode("Zg==Zm9v"), None);
    }

    #[test]
    fn wall_clock_conversion_keeps_the_age() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let fetched = now - Duration::from_millis(42_500);
        let millis = unix_millis(fetched, now, wall);
        assert_eq!(millis, 1_700_000_000_000 - 42_500);
        assert_eq!(instant_of(millis, now, wall), fetched);
        assert_eq!(instant_of(millis + 100_000, now, wall), now);
    }
}
