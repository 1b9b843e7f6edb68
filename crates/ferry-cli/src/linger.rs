//! Lingering close: after the server half-closes a connection, keep reading (and
//! discarding) what the client is still sending for a short while, so the kernel
//! does not answer it with a reset that would destroy the response the client has
//! not read yet (a 431 for an oversized head, a `connection: close` response
//! during a pipelined burst). nginx does the same (`lingering_close`).
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long to keep draining after the write side is shut.
const LINGER: Duration = Duration::from_secs(2);
/// How much to drain at most.
const LINGER_BYTES: usize = 1 << 20;

/// Lingering after the write side is shut: drains for [`LINGER`] or
/// [`LINGER_BYTES`], whichever comes first, or until the client closes.
#[derive(Default)]
pub(crate) struct Lingering {
    drained: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Lingering {
    /// Drains `io`; `Ready` when lingering is over.
    pub(crate) fn poll<R: AsyncRead + ?Sized>(
        &mut self,
        mut io: Pin<&mut R>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        let mut scratch = [0u8; 4096];
        while self.drained < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match io.as_mut().poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    self.drained += buf.filled().len();
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }
}

/// A TCP stream whose shutdown lingers (for hyper, which shuts it down).
pub(crate) struct Linger {
    inner: TcpStream,
    shut: bool,
    lingering: Lingering,
}

impl Linger {
    pub(crate) fn new(inner: TcpStream) -> Self {
        Linger {
            inner,
            shut: false,
            lingering: Lingering::default(),
        }
    }

    /// The TCP stream, for a wire layer that shuts it down and lingers
    /// itself (the HTTP/1.1 fast path over TLS).
    pub(crate) fn into_inner(self) -> TcpStream {
        self.inner
    }
}

impl AsyncRead for Linger {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Linger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.shut = true;
        }
        this.lingering.poll(Pin::new(&mut this.inner), cx).map(Ok)
    }
}

use std::future::Future as _;
