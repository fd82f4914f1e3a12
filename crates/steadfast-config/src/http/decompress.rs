//! `Accept-Encoding` and the decoding of `Content-Encoding: gzip`, `br`
//! and `zstd` bodies, under the size limit.
//!
//! A body is decoded as its frames arrive, into a buffer that refuses to
//! grow past the limit: a few kilobytes that inflate to gigabytes stop at
//! the limit with [`ConfigError::BodyTooLarge`], having held no more than
//! the limit. An encoding this build does not decode is
//! [`ConfigError::UnsupportedEncoding`]; a stream that does not decode
//! (corrupt, truncated, followed by garbage) is
//! [`ConfigError::CorruptBody`].

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::CONTENT_ENCODING;

use crate::ConfigError;

/// The `Accept-Encoding` the source sends: the encodings this build
/// decodes, preferred in the order zstd, br, gzip.
pub(super) const ACCEPT_ENCODING: Option<&str> = accept_encoding();

const fn accept_encoding() -> Option<&'static str> {
    const ZSTD: bool = cfg!(feature = "zstd");
    const BR: bool = cfg!(feature = "brotli");
    const GZIP: bool = cfg!(feature = "gzip");
    match (ZSTD, BR, GZIP) {
        (true, true, true) => Some("zstd, br, gzip"),
        (true, true, false) => Some("zstd, br"),
        (true, false, true) => Some("zstd, gzip"),
        (false, true, true) => Some("br, gzip"),
        (true, false, false) => Some("zstd"),
        (false, true, false) => Some("br"),
        (false, false, true) => Some("gzip"),
        (false, false, false) => None,
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Identity,
    #[cfg(feature = "gzip")]
    Gzip,
    #[cfg(feature = "brotli")]
    Brotli,
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Encoding {
    #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
    fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            #[cfg(feature = "gzip")]
            Encoding::Gzip => "gzip",
            #[cfg(feature = "brotli")]
            Encoding::Brotli => "br",
            #[cfg(feature = "zstd")]
            Encoding::Zstd => "zstd",
        }
    }
}

/// The encoding `Content-Encoding` names: none, `identity`, or one coding
/// this build decodes. Several codings stacked, or one unknown here, are
/// [`ConfigError::UnsupportedEncoding`].
pub(super) fn encoding_of(headers: &HeaderMap) -> Result<Encoding, ConfigError> {
    let unsupported = |encoding: &str| ConfigError::UnsupportedEncoding {
        encoding: Arc::from(encoding),
    };
    let mut found = Encoding::Identity;
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| unsupported(&String::from_utf8_lossy(value.as_bytes())))?;
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("identity") {
                continue;
            }
            let encoding = decoded(coding).ok_or_else(|| unsupported(coding))?;
            if found != Encoding::Identity {
                return Err(unsupported(text));
            }
            found = encoding;
        }
    }
    Ok(found)
}

/// The encoding this build decodes for `coding` (not `identity`).
fn decoded(coding: &str) -> Option<Encoding> {
    let known: [(&str, Encoding); _] = [
        #[cfg(feature = "gzip")]
        ("gzip", Encoding::Gzip),
        #[cfg(feature = "gzip")]
        ("x-gzip", Encoding::Gzip),
        #[cfg(feature = "brotli")]
        ("br", Encoding::Brotli),
        #[cfg(feature = "zstd")]
        ("zstd", Encoding::Zstd),
    ];
    known
        .into_iter()
        .find(|(name, _)| coding.eq_ignore_ascii_case(name))
        .map(|(_, encoding)| encoding)
}

/// A body being read: the raw bytes counted against the limit, and decoded
/// into a buffer that stops at the limit.
pub(super) struct Decoding {
    limit: usize,
    raw: usize,
    codec: Codec,
}

enum Codec {
    Identity(BytesMut),
    #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
    Coded(coded::Coded),
}

impl Decoding {
    /// A body in `encoding`, at most `limit` bytes raw and decoded;
    /// `capacity` bytes reserved for an identity body.
    pub(super) fn new(encoding: Encoding, limit: usize, capacity: usize) -> Self {
        let codec = match encoding {
            Encoding::Identity => Codec::Identity(BytesMut::with_capacity(capacity)),
            #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
            coded => Codec::Coded(coded::Coded::new(coded, limit)),
        };
        Self {
            limit,
            raw: 0,
            codec,
        }
    }

    /// Takes the next bytes of the body.
    pub(super) fn push(&mut self, data: &[u8]) -> Result<(), ConfigError> {
        self.raw = self.raw.saturating_add(data.len());
        if self.raw > self.limit {
            return Err(ConfigError::BodyTooLarge { limit: self.limit });
        }
        match &mut self.codec {
            Codec::Identity(buf) => {
                buf.extend_from_slice(data);
                Ok(())
            }
            #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
            Codec::Coded(coded) => coded.push(data),
        }
    }

    /// The whole decoded body, once the last bytes are in.
    pub(super) fn finish(&mut self) -> Result<Bytes, ConfigError> {
        match &mut self.codec {
            Codec::Identity(buf) => Ok(std::mem::take(buf).freeze()),
            #[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
            Codec::Coded(coded) => coded.finish(),
        }
    }
}

#[cfg(any(feature = "gzip", feature = "brotli", feature = "zstd"))]
mod coded {
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use bytes::{Bytes, BytesMut};
    use tokio::io::AsyncWrite;

    use super::Encoding;
    use crate::ConfigError;

    /// zstd frames may ask for a window of up to 2^31 bytes; this is the
    /// largest accepted, 8 MiB, what RFC 8878 asks every decoder to
    /// support.
    #[cfg(feature = "zstd")]
    const ZSTD_WINDOW_LOG_MAX: u32 = 23;

    /// Decoded output, refused past the limit.
    pub(super) struct Sink {
        buf: BytesMut,
        limit: usize,
        exceeded: bool,
    }

    impl AsyncWrite for Sink {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.buf.len().saturating_add(data.len()) > self.limit {
                self.exceeded = true;
                return Poll::Ready(Err(io::Error::other("decoded body over the limit")));
            }
            self.buf.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    enum Decoder {
        #[cfg(feature = "gzip")]
        Gzip(async_compression::tokio::write::GzipDecoder<Sink>),
        #[cfg(feature = "brotli")]
        Brotli(async_compression::tokio::write::BrotliDecoder<Sink>),
        #[cfg(feature = "zstd")]
        Zstd(async_compression::tokio::write::ZstdDecoder<Sink>),
    }

    pub(super) struct Coded {
        encoding: Encoding,
        decoder: Decoder,
    }

    impl Coded {
        pub(super) fn new(encoding: Encoding, limit: usize) -> Self {
            let sink = Sink {
                buf: BytesMut::new(),
                limit,
                exceeded: false,
            };
            let decoder = match encoding {
                #[cfg(feature = "gzip")]
                Encoding::Gzip => {
                    Decoder::Gzip(async_compression::tokio::write::GzipDecoder::new(sink))
                }
                #[cfg(feature = "brotli")]
                Encoding::Brotli => {
                    Decoder::Brotli(async_compression::tokio::write::BrotliDecoder::new(sink))
                }
                #[cfg(feature = "zstd")]
                Encoding::Zstd => {
                    Decoder::Zstd(async_compression::tokio::write::ZstdDecoder::with_params(
                        sink,
                        &[async_compression::zstd::DParameter::window_log_max(
                            ZSTD_WINDOW_LOG_MAX,
                        )],
                    ))
                }
                Encoding::Identity => unreachable!("an identity body is not decoded"),
            };
            Self { encoding, decoder }
        }

        fn writer(&mut self) -> Pin<&mut (dyn AsyncWrite + Unpin)> {
            match &mut self.decoder {
                #[cfg(feature = "gzip")]
                Decoder::Gzip(d) => Pin::new(d as &mut (dyn AsyncWrite + Unpin)),
                #[cfg(feature = "brotli")]
                Decoder::Brotli(d) => Pin::new(d as &mut (dyn AsyncWrite + Unpin)),
                #[cfg(feature = "zstd")]
                Decoder::Zstd(d) => Pin::new(d as &mut (dyn AsyncWrite + Unpin)),
            }
        }

        fn sink(&self) -> &Sink {
            match &self.decoder {
                #[cfg(feature = "gzip")]
                Decoder::Gzip(d) => d.get_ref(),
                #[cfg(feature = "brotli")]
                Decoder::Brotli(d) => d.get_ref(),
                #[cfg(feature = "zstd")]
                Decoder::Zstd(d) => d.get_ref(),
            }
        }

        fn sink_mut(&mut self) -> &mut Sink {
            match &mut self.decoder {
                #[cfg(feature = "gzip")]
                Decoder::Gzip(d) => d.get_mut(),
                #[cfg(feature = "brotli")]
                Decoder::Brotli(d) => d.get_mut(),
                #[cfg(feature = "zstd")]
                Decoder::Zstd(d) => d.get_mut(),
            }
        }

        fn failed(&self, error: &io::Error) -> ConfigError {
            let sink = self.sink();
            if sink.exceeded {
                return ConfigError::BodyTooLarge { limit: sink.limit };
            }
            ConfigError::CorruptBody {
                encoding: Arc::from(self.encoding.name()),
                message: Arc::from(error.to_string()),
            }
        }

        /// Decodes `data`. The sink never waits, so neither does the
        /// decoder: it is polled with a waker that is never woken.
        pub(super) fn push(&mut self, mut data: &[u8]) -> Result<(), ConfigError> {
            let mut cx = Context::from_waker(Waker::noop());
            while !data.is_empty() {
                match self.writer().poll_write(&mut cx, data) {
                    Poll::Ready(Ok(0)) => {
                        return Err(
                            self.failed(&io::Error::other("data after the end of the stream"))
                        );
                    }
                    Poll::Ready(Ok(written)) => data = &data[written..],
                    Poll::Ready(Err(error)) => return Err(self.failed(&error)),
                    Poll::Pending => {
                        return Err(self.failed(&io::Error::other("the decoder stalled")));
                    }
                }
            }
            Ok(())
        }

        /// Ends the stream: a truncated one is corrupt.
        pub(super) fn finish(&mut self) -> Result<Bytes, ConfigError> {
            let mut cx = Context::from_waker(Waker::noop());
            match self.writer().poll_shutdown(&mut cx) {
                Poll::Ready(Ok(())) => Ok(std::mem::take(&mut self.sink_mut().buf).freeze()),
                Poll::Ready(Err(error)) => Err(self.failed(&error)),
                Poll::Pending => Err(self.failed(&io::Error::other("the decoder stalled"))),
            }
        }
    }
}
