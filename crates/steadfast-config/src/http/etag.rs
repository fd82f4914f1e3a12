//! The version an `ETag` names.

use std::sync::Arc;

use http::HeaderValue;

/// The version of an entity tag and whether it is weak: `"abc"` is `abc`,
/// strong; `W/"abc"` is `abc`, weak. A tag without the quotes RFC 9110
/// asks for is taken whole, trimmed, as a strong version. The tag itself
/// is what `If-None-Match` sends back, unchanged.
pub(super) fn version(etag: &HeaderValue) -> (Arc<str>, bool) {
    let text = etag.to_str().unwrap_or_default().trim();
    let (weak, opaque) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let version = opaque
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(opaque);
    (Arc::from(version), weak)
}

/// Whether `etag` is a weak validator.
pub(super) fn is_weak(etag: &HeaderValue) -> bool {
    etag.as_bytes().trim_ascii_start().starts_with(b"W/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(tag: &'static str) -> (String, bool) {
        let (version, weak) = version(&HeaderValue::from_static(tag));
        (version.to_string(), weak)
    }

    #[test]
    fn quotes_go_and_weakness_is_told() {
        assert_eq!(of("\"v1\""), ("v1".into(), false));
        assert_eq!(of("W/\"5f0c-1a2b\""), ("5f0c-1a2b".into(), true));
        assert_eq!(of(" \"v1\" "), ("v1".into(), false));
        assert_eq!(of("\"\""), ("".into(), false));
        assert_eq!(of("bare"), ("bare".into(), false));
        assert_eq!(of("W/bare"), ("bare".into(), true));
        assert_eq!(of("\"unterminated"), ("\"unterminated".into(), false));
        // The weak prefix is case-sensitive (RFC 9110).
        assert_eq!(of("w/\"v\""), ("w/\"v\"".into(), false));
        assert!(is_weak(&HeaderValue::from_static("W/\"x\"")));
        assert!(!is_weak(&HeaderValue::from_static("\"W/x\"")));
    }
}
