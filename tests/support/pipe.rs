//! An in-process transport from hyper-util's client to a
//! [`ConfigServer`](super::config_server::ConfigServer): each connection is a
//! `tokio::io::duplex` pipe the server serves, and a stopped server refuses
//! it (`ConnectionRefused`), as its TCP port does.
//!
//! No socket is involved, so a test can run the real HTTP client and server
//! on tokio's paused clock: time moves only when every task waits on a
//! timer, never while bytes are in flight. (On a socket, the paused clock
//! jumps to the next timer, a request's time limit among them, whenever the
//! runtime finds no I/O ready at once.)
//!
//! As on a socket, connecting takes a turn of the runtime: tasks already
//! waiting to run go first (a second caller meets a probe of the circuit
//! still in flight, as it would on loopback).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::config_server::Acceptor;

/// How many bytes a pipe buffers in each direction.
const PIPE_BUFFER: usize = 64 * 1024;

/// A hyper-util connector whose connections are pipes to one server.
#[derive(Clone)]
pub struct Pipe {
    acceptor: Acceptor,
}

impl Pipe {
    /// A connector to the server `acceptor` serves.
    pub fn new(acceptor: Acceptor) -> Self {
        Self { acceptor }
    }
}

/// The client's end of a pipe.
#[derive(Debug)]
pub struct PipeStream(DuplexStream);

impl tower::Service<Uri> for Pipe {
    type Response = TokioIo<PipeStream>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        Connecting {
            acceptor: Some(self.acceptor.clone()),
            yielded: false,
        }
    }
}

/// A connection being made: it yields once, then connects or is refused.
pub struct Connecting {
    acceptor: Option<Acceptor>,
    yielded: bool,
}

impl Future for Connecting {
    type Output = io::Result<TokioIo<PipeStream>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let acceptor = self.acceptor.take().expect("polled after it was ready");
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        Poll::Ready(
            acceptor
                .serve(server)
                .map(|()| TokioIo::new(PipeStream(client))),
        )
    }
}

impl Connection for PipeStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for PipeStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
