//! How values become bytes in Redis: the versioned envelope around a
//! [`Codec`]'s bytes.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::codec::{Codec, CodecError, JsonCodec};
use crate::store::Entry;

/// The first bytes of every envelope.
pub const ENVELOPE_MAGIC: [u8; 3] = *b"SFC";

/// The envelope version this build writes and reads. An entry written with
/// another version is a decode failure (a miss), never misread.
pub const ENVELOPE_VERSION: u8 = 1;

/// The length of the envelope header in front of the encoded value.
pub const ENVELOPE_HEADER_LEN: usize = 28;

/// The furthest future deadline an envelope may carry (about 100 years);
/// anything beyond is treated as corrupt.
pub(crate) const MAX_AHEAD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A pairing of the tokio clock with the wall clock, taken at one moment,
/// to convert deadlines between them.
///
/// Deadlines cross process boundaries as unix milliseconds: a tokio
/// [`Instant`] means nothing to another process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    pub(crate) now: Instant,
    pub(crate) unix_ms: u64,
}

impl Clocks {
    /// Both clocks, now.
    pub(crate) fn now() -> Self {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            now: Instant::now(),
            unix_ms,
        }
    }

    /// `at` as unix milliseconds (rounded up, so a deadline never moves
    /// earlier).
    pub(crate) fn to_unix_ms(self, at: Instant) -> u64 {
        if at >= self.now {
            self.unix_ms.saturating_add(ceil_ms(at - self.now))
        } else {
            self.unix_ms
                .saturating_sub(u64::try_from((self.now - at).as_millis()).unwrap_or(u64::MAX))
        }
    }

    /// Unix milliseconds as an instant of the tokio clock; `None` when it
    /// lies more than [`MAX_AHEAD`] in the future.
    pub(crate) fn to_instant(self, unix_ms: u64) -> Option<Instant> {
        if unix_ms >= self.unix_ms {
            let ahead = Duration::from_millis(unix_ms - self.unix_ms);
            if ahead > MAX_AHEAD {
                return None;
            }
            self.now.checked_add(ahead)
        } else {
            Some(
                self.now
                    .checked_sub(Duration::from_millis(self.unix_ms - unix_ms))
                    .unwrap_or(self.now),
            )
        }
    }
}

/// Whole milliseconds in `d`, rounded up.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms.saturating_add(1)
    }
}

/// Why stored bytes are not a readable envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Too short, or not starting with [`ENVELOPE_MAGIC`].
    NotAnEnvelope,
    /// An envelope of another version.
    Version(u8),
    /// Deadlines out of order or out of range.
    Deadlines,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotAnEnvelope => f.pad("not a steadfast cache envelope"),
            EnvelopeError::Version(v) => {
                write!(f, "cache envelope version {v}, expected {ENVELOPE_VERSION}")
            }
            EnvelopeError::Deadlines => f.pad("cache envelope deadlines out of order"),
        }
    }
}

impl Error for EnvelopeError {}

/// Writes the envelope of `entry` into `out`.
pub(crate) fn encode_envelope<V, C: Codec<V>>(
    codec: &C,
    entry: &Entry<V>,
    clocks: Clocks,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.extend_from_slice(&ENVELOPE_MAGIC);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&clocks.to_unix_ms(entry.fresh_until).to_be_bytes());
    out.extend_from_slice(&clocks.to_unix_ms(entry.revalidate_until).to_be_bytes());
    out.extend_from_slice(&clocks.to_unix_ms(entry.expires_at).to_be_bytes());
    codec.encode(&entry.value, out)
}

/// The deadlines of an envelope, as unix milliseconds, and its value bytes.
pub(crate) struct RawEnvelope<'a> {
    pub(crate) fresh_until: u64,
    pub(crate) revalidate_until: u64,
    pub(crate) expires_at: u64,
    pub(crate) value: &'a [u8],
}

/// Reads the envelope header of `bytes`.
pub(crate) fn open_envelope(bytes: &[u8]) -> Result<RawEnvelope<'_>, EnvelopeError> {
    if bytes.len() < 4 || bytes[..3] != ENVELOPE_MAGIC {
        return Err(EnvelopeError::NotAnEnvelope);
    }
    if bytes[3] != ENVELOPE_VERSION {
        return Err(EnvelopeError::Version(bytes[3]));
    }
    if bytes.len() < ENVELOPE_HEADER_LEN {
        return Err(EnvelopeError::NotAnEnvelope);
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let raw = RawEnvelope {
        fresh_until: word(4),
        revalidate_until: word(12),
        expires_at: word(20),
        value: &bytes[ENVELOPE_HEADER_LEN..],
    };
    if raw.fresh_until > raw.revalidate_until || raw.revalidate_until > raw.expires_at {
        return Err(EnvelopeError::Deadlines);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks() -> Clocks {
        Clocks {
            now: Instant::now(),
            unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn deadlines_convert_both_ways() {
        let c = clocks();
        assert_eq!(c.to_unix_ms(c.now), 1_700_000_000_000);
        assert_eq!(
            c.to_unix_ms(c.now + Duration::from_millis(1500)),
            1_700_000_001_500
        );
        assert_eq!(
            c.to_unix_ms(c.now + Duration::from_micros(1500)),
            1_700_000_000_002
        );
        assert_eq!(
            c.to_instant(1_700_000_002_000),
            Some(c.now + Duration::from_secs(2))
        );
        assert_eq!(c.to_instant(u64::MAX), None);
        let limit = c.unix_ms + u64::try_from(MAX_AHEAD.as_millis()).unwrap();
        assert_eq!(c.to_instant(limit), Some(c.now + MAX_AHEAD));
        assert_eq!(c.to_instant(limit + 1), None);
        assert_eq!(
            c.to_instant(1_699_999_999_000),
            Some(c.now - Duration::from_secs(1))
        );
    }

    #[test]
    fn envelope_round_trips() {
        let c = clocks();
        let entry = Entry {
            value: vec![1u32, 2, 3],
            fresh_until: c.now + Duration::from_secs(1),
            revalidate_until: c.now + Duration::from_secs(2),
            expires_at: c.now + Duration::from_secs(3),
        };
        let mut out = Vec::new();
        encode_envelope(&JsonCodec, &entry, c, &mut out).unwrap();
        assert_eq!(&out[..4], b"SFC\x01");
        assert_eq!(&out[ENVELOPE_HEADER_LEN..], b"[1,2,3]");
        let raw = open_envelope(&out).unwrap();
        assert_eq!(raw.fresh_until, 1_700_000_001_000);
        assert_eq!(raw.revalidate_until, 1_700_000_002_000);
        assert_eq!(raw.expires_at, 1_700_000_003_000);
        assert_eq!(raw.value, b"[1,2,3]");
    }

    #[test]
    fn bad_envelopes_are_told_apart() {
        assert_eq!(
            open_envelope(b"hello").err(),
            Some(EnvelopeError::NotAnEnvelope)
        );
        assert_eq!(
            open_envelope(b"SF").err(),
            Some(EnvelopeError::NotAnEnvelope)
        );
        assert_eq!(
            open_envelope(b"SFC\x02whatever").err(),
            Some(EnvelopeError::Version(2))
        );
        assert_eq!(
            open_envelope(b"SFC\x01short").err(),
            Some(EnvelopeError::NotAnEnvelope)
        );
        let mut out = b"SFC\x01".to_vec();
        for ms in [3u64, 2, 1] {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        assert_eq!(open_envelope(&out).err(), Some(EnvelopeError::Deadlines));
    }
}
