//! The messages of a namespace's invalidation channel.
//!
//! | message              | sent by                      | means                              |
//! |----------------------|------------------------------|------------------------------------|
//! | `set:<origin>:<key>` | [`put`](crate::Store::put)   | a newer entry of `key` is in Redis |
//! | `del:<key>`          | [`remove`](crate::Store::remove) | `key` was removed              |
//! | `clear`              | [`clear`](crate::Store::clear)   | the namespace was emptied      |
//! | `rel:<origin>:<key>` | [`release_lease`](crate::Store::release_lease) | the lease of `key` is free |
//!
//! `<origin>` is the writing store's id (16 hex digits), so that the writer
//! keeps its own fresh copy (and does not wait on its own lease).

use std::fmt::Write as _;

use crate::tiered::Invalidation;

/// The message announcing a write of `key` by the store `origin`.
pub(super) fn set(origin: u64, key: &dyn std::fmt::Display) -> String {
    let mut out = String::with_capacity(32);
    let _ = write!(out, "set:{origin:016x}:{key}");
    out
}

/// The message announcing that the store `origin` gave back the lease of
/// `key`.
pub(super) fn released(origin: u64, key: &dyn std::fmt::Display) -> String {
    let mut out = String::with_capacity(32);
    let _ = write!(out, "rel:{origin:016x}:{key}");
    out
}

/// The message announcing the removal of `key`.
pub(super) fn del(key: &dyn std::fmt::Display) -> String {
    format!("del:{key}")
}

/// The message announcing a clear.
pub(super) const CLEAR: &str = "clear";

/// What a message means to the store `me`: `None` for its own writes and
/// for anything that is not a message of this channel.
pub(super) fn parse(payload: &[u8], me: u64) -> Option<Invalidation> {
    let text = std::str::from_utf8(payload).ok()?;
    if text == CLEAR {
        return Some(Invalidation::All);
    }
    if let Some(key) = text.strip_prefix("del:") {
        return Some(Invalidation::Key(key.to_owned()));
    }
    let (released, rest) = match text.strip_prefix("set:") {
        Some(rest) => (false, rest),
        None => (true, text.strip_prefix("rel:")?),
    };
    let (origin, key) = rest.split_at_checked(16)?;
    let key = key.strip_prefix(':')?;
    let origin = u64::from_str_radix(origin, 16).ok()?;
    if origin == me {
        return None;
    }
    Some(if released {
        Invalidation::LeaseReleased(key.to_owned())
    } else {
        Invalidation::Updated(key.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let me = 0x0123_4567_89ab_cdef;
        assert_eq!(set(me, &"app@prod"), "set:0123456789abcdef:app@prod");
        assert_eq!(
            parse(set(7, &"a:b").as_bytes(), me),
            Some(Invalidation::Updated("a:b".to_owned()))
        );
        assert_eq!(parse(set(me, &"a").as_bytes(), me), None, "its own write");
        assert_eq!(
            parse(del(&"app@prod").as_bytes(), me),
            Some(Invalidation::Key("app@prod".to_owned()))
        );
        assert_eq!(parse(b"del:", me), Some(Invalidation::Key(String::new())));
        assert_eq!(parse(CLEAR.as_bytes(), me), Some(Invalidation::All));
        assert_eq!(released(me, &"k"), "rel:0123456789abcdef:k");
        assert_eq!(
            parse(released(7, &"a:b").as_bytes(), me),
            Some(Invalidation::LeaseReleased("a:b".to_owned()))
        );
        assert_eq!(
            parse(released(me, &"a").as_bytes(), me),
            None,
            "its own lease"
        );
    }

    #[test]
    fn anything_else_is_ignored() {
        for payload in [
            &b"something else"[..],
            b"\xff\xfe",
            b"set:",
            b"set:0123:k",
            b"set:0123456789abcdefk",
            b"set:zz23456789abcdef:k",
            b"rel:0123:k",
            b"rel:0123456789abcdefk",
        ] {
            assert_eq!(parse(payload, 1), None, "{payload:?}");
        }
    }
}
