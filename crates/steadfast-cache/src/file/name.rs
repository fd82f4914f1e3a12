//! File names: one per key, safe for any key, and telling entries from
//! files being written.
//!
//! A key's file is `<hash>-<escaped>.sfs`: sixteen hex digits of the
//! FNV-1a hash of the key's displayed form, then that form with every byte
//! but ASCII letters, digits, `_` and `-` written `%XX`, cut to
//! [`MAX_ESCAPED`] bytes. The name always starts with a hex digit and holds
//! no separator, so no key names `.`, `..`, a hidden file or a path outside
//! the directory; the full key inside the file tells two keys apart that
//! share a name. A file being written is `.<writer>-<seq>.sfs-tmp`.

/// How a file in the snapshot directory is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A snapshot entry.
    Entry,
    /// A file being written (or left by a write that never finished).
    Temp,
    /// Anything else: never read, never removed.
    Other,
}

/// The longest escaped key in a file name.
pub(crate) const MAX_ESCAPED: usize = 96;

const ENTRY_SUFFIX: &str = ".sfs";
const TEMP_SUFFIX: &str = ".sfs-tmp";

/// The file name of `key`.
pub(crate) fn entry_name(key: &str) -> String {
    let mut name = format!("{:016x}-", fnv1a(key.as_bytes()));
    let limit = name.len() + MAX_ESCAPED;
    for &byte in key.as_bytes() {
        let keep = byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
        let width = if keep { 1 } else { 3 };
        if name.len() + width > limit {
            break;
        }
        if keep {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name.push_str(ENTRY_SUFFIX);
    name
}

/// The name of the file that write `seq` of store `writer` is written to
/// before it is renamed into place.
pub(crate) fn temp_name(writer: u64, seq: u64) -> String {
    format!(".{writer:016x}-{seq:016x}{TEMP_SUFFIX}")
}

/// How the file called `name` is used.
pub(crate) fn kind(name: &str) -> Kind {
    let hex_prefix = name.len() > 17
        && name.as_bytes()[..16]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && name.as_bytes()[16] == b'-';
    if hex_prefix && name.ends_with(ENTRY_SUFFIX) {
        Kind::Entry
    } else if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
        Kind::Temp
    } else {
        Kind::Other
    }
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and process).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn names_are_safe_for_any_key() {
        assert_eq!(
            entry_name("app@prod"),
            format!("{:016x}-app%40prod.sfs", fnv1a(b"app@prod"))
        );
        for key in [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "/abs",
            "a/b\\c",
            "nul\0byte",
            "ünï",
            "CON",
        ] {
            let name = entry_name(key);
            assert_eq!(kind(&name), Kind::Entry, "{key:?}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-%.".contains(&b)),
                "{key:?} -> {name}"
            );
            assert!(!name.starts_with('.'), "{key:?}");
            assert!(name.len() <= 16 + 1 + MAX_ESCAPED + 4);
        }
        let long = "x".repeat(1_000);
        assert_eq!(entry_name(&long).len(), 16 + 1 + MAX_ESCAPED + 4);
        let escapes = "/".repeat(1_000);
        let name = entry_name(&escapes);
        assert!(name.len() <= 16 + 1 + MAX_ESCAPED + 4);
        assert!(name.ends_with("%2F.sfs"));
        // Keys that escape alike, or are cut alike, differ in their hash.
        assert_ne!(entry_name(&long), entry_name(&format!("{long}y")));
        assert_ne!(entry_name("App"), entry_name("app"));
    }

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(kind(&temp_name(1, 2)), Kind::Temp);
        assert_eq!(
            kind(".0000000000000001-0000000000000002.sfs-tmp"),
            Kind::Temp
        );
        assert_eq!(kind("README.md"), Kind::Other);
        assert_eq!(kind("0123456789abcdef.sfs"), Kind::Other);
        assert_eq!(kind("0123456789ABCDEF-x.sfs"), Kind::Other);
        assert_eq!(kind("0123456789abcdef-x.sfs.bak"), Kind::Other);
    }
}
