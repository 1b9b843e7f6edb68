//! ferry's own HTTP/2 wire layer (RFC 9113) for applications that do not
//! read request bodies (`ferry serve`): frames and HPACK on one task per
//! connection, every request answered by the one [`Pipeline`], as the
//! HTTP/1.1 fast path does for HTTP/1.1. `ferry proxy`, which streams
//! request bodies upstream, keeps hyper's HTTP/2.
//!
//! Used over TLS when ALPN chose `h2`, and on an `--h2c` listener when the
//! client's first bytes are the HTTP/2 preface (prior knowledge, RFC 9113
//! §3.3); anything else there is HTTP/1.1 and goes to hyper.
mod conn;
pub(crate) mod frame;
pub(crate) mod request;

use crate::net::{Busy, Deadline};
use crate::pipeline::{App, Pipeline};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::sync::watch;

pub(crate) use conn::Limits;

/// Serves one HTTP/2 connection until it ends, or gracefully (GOAWAY, the
/// open streams answered) once `stop` turns true. `preface`: the client's
/// preface is still to be read.
pub(crate) async fn connection<A, I>(
    pipeline: Arc<Pipeline<A>>,
    io: I,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    limits: &Limits,
    preface: bool,
) where
    A: App,
    I: AsyncRead + AsyncWrite + Unpin,
{
    let busy = Busy::default();
    let io = Deadline::new(io, limits.idle, limits.write, busy.clone());
    let mut c = conn::Conn::new(io, busy, pipeline, peer, limits, preface);
    let mut stopping = *stop.borrow();
    if !stopping {
        tokio::select! {
            r = std::future::poll_fn(|cx| c.poll(cx)) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "h2 connection ended");
                    return;
                }
            }
            _ = stop.changed() => stopping = true,
        }
    }
    if stopping {
        c.drain();
        // The PING's ACK normally brings the final GOAWAY within a round
        // trip; a client that does not answer gets it after this bound.
        let announced = tokio::time::timeout(
            crate::net::DRAIN_GRACE,
            std::future::poll_fn(|cx| c.poll(cx)),
        );
        match announced.await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                c.close_streams();
                if std::future::poll_fn(|cx| c.poll(cx)).await.is_err() {
                    return;
                }
            }
        }
    }
    c.shutdown().await;
}

/// What an `--h2c` connection's first bytes say it speaks.
pub(crate) enum Sniffed<I> {
    /// The HTTP/2 preface, read.
    H2(I),
    /// Anything else: HTTP/1.1, with the bytes read put back.
    H1(Rewind<I>),
}

/// Reads until the first bytes are the HTTP/2 preface or cannot be
/// (RFC 9113 §3.3), within `timeout`; `None` if the client said nothing.
pub(crate) async fn sniff<I: AsyncRead + Unpin>(
    mut io: I,
    timeout: Duration,
) -> Option<Sniffed<I>> {
    let mut got = Vec::with_capacity(frame::PREFACE.len());
    let read = async {
        loop {
            let mut b = [0u8; 24];
            let want = frame::PREFACE.len() - got.len();
            let n = io.read(&mut b[..want]).await?;
            if n == 0 {
                return Ok::<_, io::Error>(false);
            }
            got.extend_from_slice(&b[..n]);
            if got[..] != frame::PREFACE[..got.len()] {
                return Ok(true);
            }
            if got.len() == frame::PREFACE.len() {
                return Ok(true);
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(true)) if got[..] == frame::PREFACE[..] => Some(Sniffed::H2(io)),
        Ok(Ok(true)) => Some(Sniffed::H1(Rewind {
            pre: got,
            at: 0,
            io,
        })),
        // Closed or silent: HTTP/1.1's own path answers or times it out.
        _ if !got.is_empty() => Some(Sniffed::H1(Rewind {
            pre: got,
            at: 0,
            io,
        })),
        _ => None,
    }
}

/// A stream whose first bytes were read already and are read again.
pub(crate) struct Rewind<I> {
    pre: Vec<u8>,
    at: usize,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.pre.len() {
            let n = (self.pre.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.pre[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
