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
/// It finds rustls's errors wherever they sit in the chain: under
/// hyper-util's client error, inside the `io::Error` tokio-rustls returns,
/// or below a `reqwest::Error` of a reqwest client on the same rustls.
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
pub(crate) fn is_certificate_error(error: &(dyn Error + 'static)) -> bool {
    use rustls::AlertDescription as Alert;
    use rustls::pki_types::InvalidDnsNameError;

    steadfast_core::chain(error).any(|cause| {
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
    })
}

/// Without rustls (features `rustls-ring`, `rustls-aws-lc`) no TLS
/// library is linked whose errors could be recognised (native-tls's errors
/// do not say which failure they are): every transport failure is taken as
/// transient.
#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
pub(crate) fn is_certificate_error(_: &(dyn Error + 'static)) -> bool {
    false
}
