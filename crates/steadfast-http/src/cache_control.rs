//! `Cache-Control` directives.

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// Whether the `Cache-Control` headers of `headers` hold `directive`
/// (compared without case, with or without an `=value`). Directives are
/// comma-separated, over one header or several; a quoted argument's commas
/// are skipped.
pub(crate) fn has(headers: &HeaderMap, directive: &str) -> bool {
    headers.get_all(CACHE_CONTROL).iter().any(|value| {
        let bytes = value.as_bytes();
        let mut start = 0;
        let mut quoted = false;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    if names(&bytes[start..i], directive) {
                        return true;
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        names(&bytes[start..], directive)
    })
}

fn names(item: &[u8], directive: &str) -> bool {
    let name = item.split(|&b| b == b'=').next().unwrap_or_default();
    name.trim_ascii().eq_ignore_ascii_case(directive.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn finds_directives_anywhere() {
        assert!(has(&headers(&["no-store"]), "no-store"));
        assert!(has(&headers(&["max-age=60, No-Store"]), "no-store"));
        assert!(has(&headers(&["max-age=60", "no-store"]), "no-store"));
        assert!(has(&headers(&["no-cache=\"a, b\", no-store"]), "no-store"));
        assert!(!has(&headers(&["private=\"x, no-store\""]), "no-store"));
        assert!(!has(&headers(&["no-storex, max-age=1"]), "no-store"));
        assert!(!has(&headers(&[]), "no-store"));
        assert!(has(&headers(&["no-cache=\"set-cookie\""]), "no-cache"));
    }
}
