//! Where a request goes: the base URL and the path template.

use std::fmt::Write as _;
use std::sync::Arc;

use http::Uri;
use http::uri::{Authority, Scheme};

use crate::{BuildError, ConfigError, ConfigRequest, Format};

/// The parsed base URL and path template.
#[derive(Debug)]
pub(crate) struct Target {
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    pieces: Vec<Piece>,
    has_profile: bool,
    extension_format: Option<Format>,
}

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Name,
    Profile,
}

/// Credentials found in the base URL's user-info, percent-decoded.
pub(crate) struct UserInfo {
    pub(crate) user: String,
    pub(crate) password: Option<String>,
}

impl Target {
    /// Parses `base_url` and `template`; user-info in the URL is taken out
    /// and returned.
    pub(crate) fn parse(
        base_url: &str,
        template: &str,
    ) -> Result<(Target, Option<UserInfo>), BuildError> {
        if base_url.contains('#') {
            return Err(BuildError::url("a base URL cannot hold a fragment"));
        }
        let uri: Uri = base_url
            .parse()
            .map_err(|e: http::uri::InvalidUri| BuildError::url(e.to_string()))?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            Some(_) => return Err(BuildError::url("the scheme must be http or https")),
            None => return Err(BuildError::url("no scheme (http:// or https://)")),
        };
        let Some(authority) = uri.authority() else {
            return Err(BuildError::url("no host"));
        };
        if uri.query().is_some() {
            return Err(BuildError::url(
                "a base URL cannot hold a query; labels are sent as the query",
            ));
        }
        let (user_info, authority) = match authority.as_str().rsplit_once('@') {
            Some((info, host)) => {
                let authority: Authority = host
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| BuildError::url(e.to_string()))?;
                (Some(user_info(info)?), authority)
            }
            None => (None, authority.clone()),
        };
        if authority.host().is_empty() {
            return Err(BuildError::url("no host"));
        }
        let port = authority.as_str()[authority.host().len()..].strip_prefix(':');
        if port.is_some_and(|port| port.parse::<u16>().is_err()) {
            return Err(BuildError::url("invalid port"));
        }
        let (pieces, has_profile, extension_format) = parse_template(template)?;
        let target = Target {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            pieces,
            has_profile,
            extension_format,
        };
        Ok((target, user_info))
    }

    /// The format named by the template's extension (`/{name}.json`).
    pub(crate) fn extension_format(&self) -> Option<Format> {
        self.extension_format
    }

    /// The base URL, without credentials.
    pub(crate) fn base(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.base_path)
    }

    /// The URL of `req`: `{name}` and `{profile}` filled in, percent-encoded;
    /// labels (and a profile the template does not place) as the query.
    pub(crate) fn uri(
        &self,
        req: &ConfigRequest,
        default_profile: Option<&str>,
    ) -> Result<Uri, ConfigError> {
        check_segment("name", req.name())?;
        let profile = req.profile().or(default_profile);
        let mut path = self.base_path.clone();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => path.push_str(text),
                Piece::Name => encode_into(&mut path, req.name()),
                Piece::Profile => {
                    let profile = profile.ok_or_else(|| {
                        ConfigError::invalid_request("the path template needs a profile")
                    })?;
                    check_segment("profile", profile)?;
                    encode_into(&mut path, profile);
                }
            }
        }
        let mut separator = '?';
        let mut pair = |path: &mut String, name: &str, value: &str| {
            path.push(separator);
            separator = '&';
            encode_into(path, name);
            path.push('=');
            encode_into(path, value);
        };
        if !self.has_profile {
            if req.labels().any(|(name, _)| name == PROFILE) {
                return Err(ConfigError::invalid_request(
                    "a label named \"profile\" would read as the profile, which this path \
                     template sends as the query parameter \"profile\"",
                ));
            }
            if let Some(profile) = profile {
                pair(&mut path, PROFILE, profile);
            }
        }
        for (name, value) in req.labels() {
            pair(&mut path, name, value);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|e| ConfigError::invalid_request(format!("no valid URL: {e}")))
    }
}

/// The query parameter of a profile the template does not place.
const PROFILE: &str = "profile";

fn check_segment(what: &str, value: &str) -> Result<(), ConfigError> {
    match value {
        "" => Err(ConfigError::invalid_request(format!("empty {what}"))),
        "." | ".." => Err(ConfigError::invalid_request(format!(
            "{what} {value:?} is not a path segment"
        ))),
        _ => Ok(()),
    }
}

fn template_error(template: &str, reason: impl Into<Arc<str>>) -> BuildError {
    BuildError::InvalidTemplate {
        template: template.into(),
        reason: reason.into(),
    }
}

type ParsedTemplate = (Vec<Piece>, bool, Option<Format>);

fn parse_template(template: &str) -> Result<ParsedTemplate, BuildError> {
    if !template.starts_with('/') {
        return Err(template_error(template, "must start with '/'"));
    }
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        match c {
            '{' => {
                let Some(end) = rest.find('}') else {
                    return Err(template_error(template, "'{' without '}'"));
                };
                let placeholder = &rest[1..end];
                let piece = match placeholder {
                    "name" => Piece::Name,
                    "profile" => Piece::Profile,
                    other => {
                        return Err(template_error(
                            template,
                            format!("unknown placeholder {{{other}}}; use {{name}} or {{profile}}"),
                        ));
                    }
                };
                if pieces.contains(&piece) {
                    return Err(template_error(
                        template,
                        format!("{{{placeholder}}} appears twice"),
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
                rest = &rest[end + 1..];
            }
            '}' => return Err(template_error(template, "'}' without '{'")),
            '?' | '#' => {
                return Err(template_error(
                    template,
                    "a template is a path; labels are sent as the query",
                ));
            }
            '%' => {
                let hex = rest
                    .get(1..3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    return Err(template_error(
                        template,
                        "'%' not followed by two hex digits",
                    ));
                };
                literal.push('%');
                literal.push_str(hex);
                rest = &rest[3..];
            }
            c if is_path_char(c) => {
                literal.push(c);
                rest = &rest[1..];
            }
            c => {
                return Err(template_error(
                    template,
                    format!("{c:?} is not allowed in a URL path; percent-encode it"),
                ));
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    if !pieces.contains(&Piece::Name) {
        return Err(template_error(template, "no {name} placeholder"));
    }
    let extension_format = match pieces.last() {
        Some(Piece::Literal(tail)) => tail
            .rsplit('/')
            .next()
            .and_then(|segment| segment.rsplit_once('.'))
            .and_then(|(_, extension)| Format::from_extension(extension)),
        _ => None,
    };
    let has_profile = pieces.contains(&Piece::Profile);
    Ok((pieces, has_profile, extension_format))
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `value` percent-encoded: every byte but the unreserved ones.
fn encode_into(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn user_info(info: &str) -> Result<UserInfo, BuildError> {
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (info, None),
    };
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| BuildError::url("the user-info is not valid percent-encoded UTF-8"))
    };
    Ok(UserInfo {
        user: decode(user)?,
        password: password.map(decode).transpose()?,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with anything that may be user-info replaced by `***`, for
/// display.
///
/// This does not parse the URL: a password may hold a raw `/`, `?`, `#` or
/// `://`, which a parser would take for the end of the authority. All from
/// after the scheme (when `url` starts with one) to the last `@` is hidden,
/// so a URL with `@` in its path shows less than it could, never more.
pub(crate) fn redact(url: &str) -> String {
    let start = url
        .split_once("://")
        .filter(|(scheme, _)| is_scheme(scheme))
        .map_or(0, |(scheme, _)| scheme.len() + 3);
    match url[start..].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str, template: &str) -> Target {
        Target::parse(base, template).unwrap().0
    }

    #[test]
    fn fills_the_template_and_encodes() {
        let t = target("http://h:8080/api/", "/config/{name}/{profile}.json");
        let req = ConfigRequest::new("my app")
            .with_profile("prod")
            .with_label("zone", "a&b")
            .with_label("az", "1");
        assert_eq!(
            t.uri(&req, None).unwrap().to_string(),
            "http://h:8080/api/config/my%20app/prod.json?az=1&zone=a%26b"
        );
        assert_eq!(t.extension_format(), Some(Format::Json));
        assert!(matches!(
            t.uri(&ConfigRequest::new("app"), None),
            Err(ConfigError::InvalidRequest { .. })
        ));
        assert_eq!(
            t.uri(&ConfigRequest::new("a/b"), Some("dev"))
                .unwrap()
                .to_string(),
            "http://h:8080/api/config/a%2Fb/dev.json"
        );
    }

    #[test]
    fn a_profile_outside_the_template_goes_in_the_query() {
        let t = target("https://h", "/{name}");
        let req = ConfigRequest::new("app").with_profile("dev");
        assert_eq!(
            t.uri(&req, None).unwrap().to_string(),
            "https://h/app?profile=dev"
        );
        assert_eq!(t.extension_format(), None);
    }

    #[test]
    fn bad_names_are_invalid_requests() {
        let t = target("http://h", "/{name}");
        for name in ["", ".", ".."] {
            assert!(matches!(
                t.uri(&ConfigRequest::new(name), None),
                Err(ConfigError::InvalidRequest { .. })
            ));
        }
    }

    #[test]
    fn user_info_is_taken_out() {
        let (t, info) = Target::parse("http://al%40x:p%3Ass@h:1/", "/{name}").unwrap();
        let info = info.unwrap();
        assert_eq!(
            (info.user.as_str(), info.password.as_deref()),
            ("al@x", Some("p:ss"))
        );
        assert_eq!(t.base(), "http://h:1");
        assert_eq!(redact("http://u:secret@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact("http://h/x"), "http://h/x");
    }

    #[test]
    fn redaction_hides_all_up_to_the_last_at_sign() {
        assert_eq!(redact("http://u:s3/cr?e#t@h/x"), "http://***@h/x");
        // An `@` in the path cannot be told from one in a password holding
        // a raw `/`: both are hidden.
        assert_eq!(redact("http://u:secret@h:1/x@y"), "http://***@y");
        assert_eq!(redact("http://h/x@y"), "http://***@y");
        assert_eq!(redact("u:s3cr3t@h/x"), "***@h/x");
        assert_eq!(redact("u:s3cr3t@h/x://y"), "***@h/x://y");
        assert_eq!(redact("h t://u:p@h"), "***@h");
        assert_eq!(redact("HTTPS://u:p@h"), "HTTPS://***@h");
    }

    #[test]
    fn ports_are_checked_for_every_kind_of_host() {
        let ok = |base: &str| Target::parse(base, "/{name}").map(|(t, _)| t.base());
        assert_eq!(ok("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(ok("http://[::1]").unwrap(), "http://[::1]");
        assert_eq!(ok("http://h:65535").unwrap(), "http://h:65535");
        let invalid_port = BuildError::url("invalid port");
        assert_eq!(ok("http://[::1]:65536").unwrap_err(), invalid_port);
        assert_eq!(ok("http://h:").unwrap_err(), invalid_port);
    }
}
