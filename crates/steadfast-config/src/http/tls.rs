//! TLS failures that repeat: a certificate the client rejects, or a peer
//! that rejects the client's.

use std::error::Error;

/// Whether the chain of `error` holds a TLS failure that no retry can fix
/// until a certificate or a TLS setting is changed: the server's
/// certificate was rejected (unknown issuer, expired, wrong name, revoked),
/// none was presented, the peer rejected this client's certificate, the
/// two sides share no protocol version or cipher suite, or the host is not
/// a valid TLS name.
///
/// It finds rustls's and native-tls's errors wherever they sit in the
/// chain: under hyper-util's client error, inside the `io::Error`
/// tokio-rustls returns, or below a `reqwest::Error` of a reqwest client
/// on the same TLS library.
pub(crate) fn is_certificate_error(error: &(dyn Error + 'static)) -> bool {
    steadfast_core::chain(error).any(|cause| is_rustls_refusal(cause) || is_native_refusal(cause))
}

#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
fn is_rustls_refusal(cause: &(dyn Error + 'static)) -> bool {
    use rustls::AlertDescription as Alert;
    use rustls::pki_types::InvalidDnsNameError;

    if cause.is::<InvalidDnsNameError>() {
        return true;
    }
    let Some(tls) = cause.downcast_ref::<rustls::Error>() else {
        return false;
    };
    matches!(
        tls,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
            | rustls::Error::InvalidCertRevocationList(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::AlertReceived(
                Alert::BadCertificate
                    | Alert::UnsupportedCertificate
                    | Alert::CertificateRevoked
                    | Alert::CertificateExpired
                    | Alert::CertificateUnknown
                    | Alert::UnknownCA
                    | Alert::CertificateRequired
                    | Alert::AccessDenied
                    | Alert::ProtocolVersion
                    | Alert::InsufficientSecurity
                    | Alert::HandshakeFailure
            )
    )
}

#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
fn is_rustls_refusal(_: &(dyn Error + 'static)) -> bool {
    false
}

/// A handshake refused by the platform's TLS. Its errors carry no kind,
/// only the platform's text, and every platform names what failed:
/// OpenSSL's "certificate verify failed" (a wrong name included), Secure
/// Transport's and SChannel's untrusted "certificate", a "handshake"
/// failure or no shared "protocol". A connection lost mid-handshake is an
/// `io::Error`, not one of these.
#[cfg(feature = "native-tls")]
fn is_native_refusal(cause: &(dyn Error + 'static)) -> bool {
    let Some(tls) = cause.downcast_ref::<native_tls::Error>() else {
        return false;
    };
    let text = tls.to_string().to_ascii_lowercase();
    ["certificate", "verify", "handshake", "protocol"]
        .iter()
        .any(|word| text.contains(word))
}

#[cfg(not(feature = "native-tls"))]
fn is_native_refusal(_: &(dyn Error + 'static)) -> bool {
    false
}
