//! The response future of [`Buffer`](crate::Buffer).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use http::header::CONTENT_LENGTH;
use http::response::Parts;
use http_body::Body;
use pin_project_lite::pin_project;
use steadfast_core::BoxError;

use crate::{BufferLayer, BufferedResponse, HttpError};

/// How many body frames one poll reads before it yields, so a body whose
/// frames are always ready cannot hold the thread.
const FRAMES_PER_POLL: u32 = 64;

/// The most memory reserved ahead from a declared `Content-Length`; the
/// rest grows as the bytes arrive.
const MAX_PREALLOCATED: usize = 64 * 1024;

pin_project! {
    /// The response future of [`Buffer`](crate::Buffer): the client's call,
    /// then the body read to its end.
    pub struct BufferFuture<F, B> {
        #[pin]
        state: State<F, B>,
        settings: BufferLayer,
        storable: bool,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Calling { #[pin] call: F },
        Reading { #[pin] body: B, parts: Option<Parts>, buf: BytesMut },
        Done,
    }
}

impl<F, B> BufferFuture<F, B> {
    pub(crate) fn new(call: F, settings: BufferLayer, storable: bool) -> Self {
        Self {
            state: State::Calling { call },
            settings,
            storable,
        }
    }
}

impl<F, B> fmt::Debug for BufferFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferFuture")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for BufferFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<BufferedResponse, HttpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let limit = this.settings.max_body_size();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { call } => {
                    let response = match ready!(call.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(HttpError::transport(error)));
                        }
                    };
                    let (parts, body) = response.into_parts();
                    let declared = parts
                        .headers
                        .get(CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                        .max(body.size_hint().lower());
                    if declared > limit as u64 {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(HttpError::BodyTooLarge { limit }));
                    }
                    let capacity = usize::try_from(declared)
                        .unwrap_or(usize::MAX)
                        .min(MAX_PREALLOCATED);
                    this.state.set(State::Reading {
                        body,
                        parts: Some(parts),
                        buf: BytesMut::with_capacity(capacity),
                    });
                }
                StateProj::Reading {
                    mut body,
                    parts,
                    buf,
                } => {
                    let mut frames = 0u32;
                    let read = loop {
                        frames += 1;
                        if frames > FRAMES_PER_POLL {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        match ready!(body.as_mut().poll_frame(cx)) {
                            Some(Ok(frame)) => {
                                if let Ok(mut data) = frame.into_data() {
                                    if buf.len().saturating_add(data.remaining()) > limit {
                                        break Err(HttpError::BodyTooLarge { limit });
                                    }
                                    while data.has_remaining() {
                                        let chunk = data.chunk();
                                        let len = chunk.len();
                                        buf.put_slice(chunk);
                                        data.advance(len);
                                    }
                                }
                            }
                            Some(Err(error)) => break Err(HttpError::body(error)),
                            None => break Ok(()),
                        }
                    };
                    let result = match (read, parts.take()) {
                        (Ok(()), Some(parts)) => {
                            let mut response = BufferedResponse::new(
                                parts.status,
                                parts.headers,
                                std::mem::take(buf).freeze(),
                            )
                            .with_version(parts.version);
                            if !*this.storable {
                                response.set_storable(false);
                            }
                            this.settings.statuses().check(response)
                        }
                        (Err(error), _) => Err(error),
                        (Ok(()), None) => Err(HttpError::transport("polled after completion")),
                    };
                    this.state.set(State::Done);
                    return Poll::Ready(result);
                }
                StateProj::Done => {
                    return Poll::Ready(Err(HttpError::transport("polled after completion")));
                }
            }
        }
    }
}
