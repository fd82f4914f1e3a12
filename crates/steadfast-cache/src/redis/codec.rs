//! How values become bytes in Redis: the versioned envelope around a
//! [`Codec`]'s bytes.
//!
//! The envelope carries no deadline as a point in time: only how long
//! before the key's expiry each window ends. Redis keeps the expiry
//! (`PX` on write, `PTTL` on read), so every reader measures an entry's age
//! with Redis's clock, never with its own wall clock or the writer's.

use std::error::Error;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

pub use crate::codec::{Codec, CodecError, JsonCodec};
use crate::store::Entry;

/// The first bytes of every envelope.
pub const ENVELOPE_MAGIC: [u8; 3] = *b"SFC";

/// The envelope version this build writes and reads. An entry written with
/// another version is a decode failure (a miss), never misread.
pub const ENVELOPE_VERSION: u8 = 2;

/// The length of the envelope header in front of the encoded value.
pub const ENVELOPE_HEADER_LEN: usize = 28;

/// The longest window an envelope may describe (about 100 years); anything
/// beyond is treated as corrupt.
const MAX_SPAN_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Whole milliseconds in `d`, rounded up.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms.saturating_add(1)
    }
}

/// Milliseconds since the unix epoch on `clock`, 0 before it.
pub(crate) fn unix_ms(clock: fn() -> SystemTime) -> u64 {
    clock()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why stored bytes are not a readable envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Too short, or not starting with [`ENVELOPE_MAGIC`].
    NotAnEnvelope,
    /// An envelope of another version.
    Version(u8),
    /// Windows out of order or out of range, or a key without an expiry.
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

/// Writes the envelope of `entry`, as seen at `now`, into `out`, and
/// returns the key's time to live in milliseconds (0: already expired).
/// `written_at` (unix milliseconds on the writer's wall clock) is kept
/// for people inspecting the key; no reader uses it.
pub(crate) fn encode_envelope<V, C: Codec<V>>(
    codec: &C,
    entry: &Entry<V>,
    now: Instant,
    written_at: u64,
    out: &mut Vec<u8>,
) -> Result<u64, CodecError> {
    let ttl = ceil_ms(entry.expires_at.saturating_duration_since(now));
    // The expiry rounds up and each window's end rounds down, so a reader
    // never sees a window end later than the writer meant.
    let lead = |until: Instant| {
        let left =
            u64::try_from(until.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX);
        ttl - left.min(ttl)
    };
    out.extend_from_slice(&ENVELOPE_MAGIC);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&written_at.to_be_bytes());
    out.extend_from_slice(&lead(entry.fresh_until).to_be_bytes());
    out.extend_from_slice(&lead(entry.revalidate_until).to_be_bytes());
    codec.encode(&entry.value, out)?;
    Ok(ttl)
}

/// An envelope's header, and its value bytes.
#[derive(Debug)]
pub(crate) struct RawEnvelope<'a> {
    /// How long before the expiry the fresh window ends, in milliseconds.
    pub(crate) fresh_lead: u64,
    /// How long before the expiry the revalidation window ends.
    pub(crate) revalidate_lead: u64,
    pub(crate) value: &'a [u8],
}

/// The deadlines of an entry, as instants of the reader's tokio clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    pub(crate) fresh_until: Instant,
    pub(crate) revalidate_until: Instant,
    pub(crate) expires_at: Instant,
}

impl RawEnvelope<'_> {
    /// The deadlines of an entry whose key had `pttl_ms` left when Redis
    /// answered a request sent at `sent`. Taking the send time makes every
    /// deadline early by at most the round trip, never late.
    pub(crate) fn deadlines(
        &self,
        pttl_ms: u64,
        sent: Instant,
    ) -> Result<Deadlines, EnvelopeError> {
        if pttl_ms > MAX_SPAN_MS {
            return Err(EnvelopeError::Deadlines);
        }
        let expires_at = sent
            .checked_add(Duration::from_millis(pttl_ms))
            .ok_or(EnvelopeError::Deadlines)?;
        let before = |lead: u64| {
            expires_at
                .checked_sub(Duration::from_millis(lead))
                .unwrap_or(sent)
                .min(expires_at)
        };
        Ok(Deadlines {
            fresh_until: before(self.fresh_lead),
            revalidate_until: before(self.revalidate_lead),
            expires_at,
        })
    }
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
        fresh_lead: word(12),
        revalidate_lead: word(20),
        value: &bytes[ENVELOPE_HEADER_LEN..],
    };
    if raw.fresh_lead < raw.revalidate_lead || raw.fresh_lead > MAX_SPAN_MS {
        return Err(EnvelopeError::Deadlines);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn entry_at(now: Instant, fresh: u64, swr: u64, sie: u64) -> Entry<Vec<u32>> {
        Entry {
            value: vec![1, 2, 3],
            fresh_until: now + Duration::from_millis(fresh),
            revalidate_until: now + Duration::from_millis(fresh + swr),
            expires_at: now + Duration::from_millis(fresh + swr + sie),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_envelope_holds_windows_relative_to_the_expiry() {
        let now = Instant::now();
        let mut out = Vec::new();
        let ttl = encode_envelope(
            &JsonCodec,
            &entry_at(now, 1000, 2000, 3000),
            now,
            1_700_000_000_000,
            &mut out,
        )
        .unwrap();
        assert_eq!(ttl, 6000);
        assert_eq!(&out[..4], b"SFC\x02");
        assert_eq!(&out[ENVELOPE_HEADER_LEN..], b"[1,2,3]");
        assert_eq!(out[4..12], 1_700_000_000_000u64.to_be_bytes());
        let raw = open_envelope(&out).unwrap();
        assert_eq!(
            (raw.fresh_lead, raw.revalidate_lead, raw.value),
            (5000, 3000, &b"[1,2,3]"[..])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_places_the_windows_by_the_time_left() {
        let now = Instant::now();
        let mut out = Vec::new();
        encode_envelope(
            &JsonCodec,
            &entry_at(now, 1000, 2000, 3000),
            now,
            0,
            &mut out,
        )
        .unwrap();
        let raw = open_envelope(&out).unwrap();
        // Read 2.5 s later: 3.5 s left.
        let later = now + 2500 * MS;
        assert_eq!(
            raw.deadlines(3500, later).unwrap(),
            Deadlines {
                fresh_until: now + 1000 * MS,
                revalidate_until: now + 3000 * MS,
                expires_at: now + 6000 * MS,
            }
        );
        assert_eq!(
            raw.deadlines(MAX_SPAN_MS + 1, later),
            Err(EnvelopeError::Deadlines)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn windows_already_over_at_the_write_end_at_once() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut entry = entry_at(now, 0, 0, 3000);
        entry.fresh_until = now - 5000 * MS;
        let ttl = encode_envelope(&JsonCodec, &entry, now, 0, &mut out).unwrap();
        let raw = open_envelope(&out).unwrap();
        assert_eq!(
            (ttl, raw.fresh_lead, raw.revalidate_lead),
            (3000, 3000, 3000)
        );
        let d = raw.deadlines(3000, now).unwrap();
        assert_eq!((d.fresh_until, d.revalidate_until), (now, now));
    }

    #[tokio::test(start_paused = true)]
    async fn sub_millisecond_parts_round_toward_an_earlier_window() {
        let now = Instant::now();
        let entry = Entry {
            value: 1u8,
            fresh_until: now + Duration::from_micros(1500),
            revalidate_until: now + Duration::from_micros(1500),
            expires_at: now + Duration::from_micros(2100),
        };
        let mut out = Vec::new();
        assert_eq!(
            encode_envelope(&JsonCodec, &entry, now, 0, &mut out).unwrap(),
            3
        );
        assert_eq!(open_envelope(&out).unwrap().fresh_lead, 2);
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
            open_envelope(b"SFC\x01whatever").err(),
            Some(EnvelopeError::Version(1))
        );
        assert_eq!(
            open_envelope(b"SFC\x02short").err(),
            Some(EnvelopeError::NotAnEnvelope)
        );
        let mut out = b"SFC\x02".to_vec();
        for ms in [0u64, 1, 2] {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        assert_eq!(open_envelope(&out).err(), Some(EnvelopeError::Deadlines));
    }
}
