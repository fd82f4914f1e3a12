//! The layout of one snapshot file: a fixed header, the key, the value
//! (the table is in the [module docs](super)).

use std::fmt;
use std::time::Duration;

/// The first bytes of every snapshot file.
pub const MAGIC: [u8; 4] = *b"SFSN";

/// The format version this build writes and reads. A file of another
/// version is unreadable (a miss), never misread.
pub const VERSION: u16 = 1;

/// The length of the fixed header in front of the key.
pub const HEADER_LEN: usize = 72;

/// The furthest a window may reach past its write (about 100 years);
/// anything beyond is corrupt.
pub(crate) const MAX_WINDOW_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// What a file says about its entry, besides the key and value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Wall-clock time of the write, unix milliseconds.
    pub(crate) written_ms: u64,
    /// Window ends, milliseconds after the write:
    /// `fresh <= revalidate <= expires`.
    pub(crate) fresh_ms: u64,
    pub(crate) revalidate_ms: u64,
    pub(crate) expires_ms: u64,
    /// Which store wrote it, and which of its writes it was.
    pub(crate) writer: u64,
    pub(crate) seq: u64,
}

/// Why a file is not a readable snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormatError {
    /// Too short for a header, or not starting with [`MAGIC`].
    NotASnapshot,
    /// A snapshot of another format version.
    Version(u16),
    /// Shorter or longer than its header says.
    Length { expected: u64, actual: u64 },
    /// The checksum does not match: the bytes were damaged.
    Checksum,
    /// Windows out of order or out of range.
    Windows,
    /// The key is not UTF-8, or not the key asked for.
    Key,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotASnapshot => f.pad("not a steadfast snapshot file"),
            FormatError::Version(v) => {
                write!(f, "snapshot format version {v}, expected {VERSION}")
            }
            FormatError::Length { expected, actual } => write!(
                f,
                "snapshot file is {actual} bytes long, its header says {expected}"
            ),
            FormatError::Checksum => f.pad("snapshot file checksum mismatch"),
            FormatError::Windows => f.pad("snapshot windows out of order or out of range"),
            FormatError::Key => f.pad("snapshot file holds another key"),
        }
    }
}

impl std::error::Error for FormatError {}

/// A parsed file: its header, key and value bytes.
pub(crate) struct Parsed<'a> {
    pub(crate) header: Header,
    pub(crate) key: &'a str,
    pub(crate) value: &'a [u8],
}

/// Starts a file for `key` in `out`: the header (lengths and checksum left
/// for [`finish`]) and the key. The caller appends the value.
pub(crate) fn start(header: &Header, key: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    for word in [
        header.written_ms,
        header.fresh_ms,
        header.revalidate_ms,
        header.expires_ms,
        header.writer,
        header.seq,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(key.as_bytes());
}

/// Fills in the lengths and checksum of a file made by [`start`] with
/// `key_len` key bytes and the value after them. `None` when the key is
/// longer than a `u32` can say.
pub(crate) fn finish(out: &mut [u8], key_len: usize) -> Option<()> {
    let key_len32 = u32::try_from(key_len).ok()?;
    let value_len = (out.len() - HEADER_LEN - key_len) as u64;
    out[56..60].copy_from_slice(&key_len32.to_be_bytes());
    out[60..68].copy_from_slice(&value_len.to_be_bytes());
    let crc = checksum(&out[..68], &out[HEADER_LEN..]);
    out[68..72].copy_from_slice(&crc.to_be_bytes());
    Some(())
}

/// Reads the file `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, FormatError> {
    if bytes.len() < 6 || bytes[..4] != MAGIC {
        return Err(FormatError::NotASnapshot);
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(FormatError::Version(version));
    }
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::Length {
            expected: HEADER_LEN as u64,
            actual: bytes.len() as u64,
        });
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let key_len = u64::from(u32::from_be_bytes([
        bytes[56], bytes[57], bytes[58], bytes[59],
    ]));
    let value_len = word(60);
    let expected = (HEADER_LEN as u64)
        .saturating_add(key_len)
        .saturating_add(value_len);
    if expected != bytes.len() as u64 {
        return Err(FormatError::Length {
            expected,
            actual: bytes.len() as u64,
        });
    }
    let crc = u32::from_be_bytes([bytes[68], bytes[69], bytes[70], bytes[71]]);
    if checksum(&bytes[..68], &bytes[HEADER_LEN..]) != crc {
        return Err(FormatError::Checksum);
    }
    let header = Header {
        written_ms: word(8),
        fresh_ms: word(16),
        revalidate_ms: word(24),
        expires_ms: word(32),
        writer: word(40),
        seq: word(48),
    };
    if header.fresh_ms > header.revalidate_ms
        || header.revalidate_ms > header.expires_ms
        || header.expires_ms > MAX_WINDOW_MS
    {
        return Err(FormatError::Windows);
    }
    let key_end = HEADER_LEN + key_len as usize;
    let key = std::str::from_utf8(&bytes[HEADER_LEN..key_end]).map_err(|_| FormatError::Key)?;
    Ok(Parsed {
        header,
        key,
        value: &bytes[key_end..],
    })
}

/// Whole milliseconds in `d`, rounded up (so a window never ends earlier
/// than it did), at most [`MAX_WINDOW_MS`].
pub(crate) fn window_ms(d: Duration) -> u64 {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let ms = if d.subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms.saturating_add(1)
    };
    ms.min(MAX_WINDOW_MS)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it) of `a` then `b`.
fn checksum(a: &[u8], b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in a.iter().chain(b) {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            written_ms: 1_700_000_000_000,
            fresh_ms: 1_000,
            revalidate_ms: 2_000,
            expires_ms: 3_000,
            writer: 7,
            seq: 9,
        }
    }

    fn file(key: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        start(&header(), key, &mut out);
        out.extend_from_slice(value);
        finish(&mut out, key.len()).unwrap();
        out
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(checksum(b"1234", b"56789"), 0xcbf4_3926);
        assert_eq!(checksum(b"", b""), 0);
    }

    #[test]
    fn a_file_round_trips() {
        let bytes = file("app@prod", b"[1,2,3]");
        assert_eq!(&bytes[..6], b"SFSN\x00\x01");
        assert_eq!(bytes.len(), HEADER_LEN + 8 + 7);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.header, header());
        assert_eq!(parsed.key, "app@prod");
        assert_eq!(parsed.value, b"[1,2,3]");
    }

    #[test]
    fn damaged_files_are_told_apart() {
        let good = file("k", b"value");
        assert_eq!(parse(b"hello").err(), Some(FormatError::NotASnapshot));
        assert_eq!(parse(b"").err(), Some(FormatError::NotASnapshot));
        assert_eq!(
            parse(b"SFSN\x00\x02rest").err(),
            Some(FormatError::Version(2))
        );
        for cut in [6, HEADER_LEN - 1, HEADER_LEN, good.len() - 1] {
            assert!(
                matches!(parse(&good[..cut]), Err(FormatError::Length { .. })),
                "cut at {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(parse(&longer), Err(FormatError::Length { .. })));
        for at in [8, 20, 44, 70, HEADER_LEN, good.len() - 1] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            assert_eq!(
                parse(&flipped).err(),
                Some(FormatError::Checksum),
                "at {at}"
            );
        }
        let mut disordered = Vec::new();
        let mut h = header();
        h.fresh_ms = 5_000;
        start(&h, "k", &mut disordered);
        finish(&mut disordered, 1).unwrap();
        assert_eq!(parse(&disordered).err(), Some(FormatError::Windows));
        let mut far = Vec::new();
        let mut h = header();
        h.expires_ms = MAX_WINDOW_MS + 1;
        start(&h, "k", &mut far);
        finish(&mut far, 1).unwrap();
        assert_eq!(parse(&far).err(), Some(FormatError::Windows));
        let mut not_utf8 = Vec::new();
        start(&header(), "k", &mut not_utf8);
        not_utf8[HEADER_LEN] = 0xff;
        finish(&mut not_utf8, 1).unwrap();
        assert_eq!(parse(&not_utf8).err(), Some(FormatError::Key));
    }

    #[test]
    fn windows_round_up_to_whole_milliseconds_and_saturate() {
        assert_eq!(window_ms(Duration::ZERO), 0);
        assert_eq!(window_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(window_ms(Duration::from_micros(1500)), 2);
        assert_eq!(window_ms(Duration::MAX), MAX_WINDOW_MS);
    }
}
