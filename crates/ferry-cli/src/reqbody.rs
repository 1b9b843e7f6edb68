//! Request bodies as the pipeline sees them, whichever wire layer read them:
//! hyper's, one fed through a channel by the HTTP/1.1 fast path while the
//! application runs, or HTTP/3's request stream.
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};

/// A request body, from whichever wire layer read the head.
#[derive(Default)]
pub(crate) struct ReqBody {
    kind: Kind,
}

#[derive(Default)]
enum Kind {
    #[default]
    Empty,
    Channel(ChannelBody),
    Hyper(hyper::body::Incoming),
    /// Another wire layer's (HTTP/3's request stream). In a mutex only to
    /// be `Sync` as the request must be; polling takes `&mut`, no lock.
    Boxed(std::sync::Mutex<Pin<Box<Dyn>>>),
}

impl ReqBody {
    pub(crate) fn channel(b: ChannelBody) -> Self {
        ReqBody {
            kind: Kind::Channel(b),
        }
    }

    pub(crate) fn hyper(b: hyper::body::Incoming) -> Self {
        ReqBody {
            kind: Kind::Hyper(b),
        }
    }

    /// Any other wire layer's body (HTTP/3's).
    #[cfg_attr(not(feature = "http3"), allow(dead_code))]
    pub(crate) fn boxed(
        b: impl http_body::Body<Data = Bytes, Error = io::Error> + Send + 'static,
    ) -> Self {
        ReqBody {
            kind: Kind::Boxed(std::sync::Mutex::new(Box::pin(b))),
        }
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Channel(b) => Pin::new(b).poll_frame(cx),
            Kind::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(io::Error::other),
            Kind::Boxed(b) => b
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_mut()
                .poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Channel(b) => b.is_end_stream(),
            Kind::Hyper(b) => b.is_end_stream(),
            Kind::Boxed(b) => b
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Channel(b) => b.size_hint(),
            Kind::Hyper(b) => b.size_hint(),
            Kind::Boxed(b) => b
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .size_hint(),
        }
    }
}

type Dyn = dyn http_body::Body<Data = Bytes, Error = io::Error> + Send;

/// A message the reader sends the body.
pub(crate) enum Piece {
    Data(Bytes),
    End,
    Err(io::Error),
}

/// A request body fed through a channel by the wire layer as the
/// application asks for it (the first poll signals `want`: the HTTP/1.1 fast
/// path then sends `100 Continue` to a client that waits for it).
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Piece>,
    want: Arc<Notify>,
    wanted: bool,
    len: Option<u64>,
    ended: bool,
}

impl ChannelBody {
    /// A body of `len` bytes (`None`: unknown), and the sender that feeds
    /// it and the signal of the first read.
    pub(crate) fn new(len: Option<u64>) -> (Self, mpsc::Sender<Piece>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(4);
        let want = Arc::new(Notify::new());
        let body = ChannelBody {
            rx,
            want: want.clone(),
            wanted: false,
            len,
            ended: false,
        };
        (body, tx, want)
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if !self.wanted {
            self.wanted = true;
            self.want.notify_one();
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Piece::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Piece::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Piece::Err(e))) => {
                self.ended = true;
                Poll::Ready(Some(Err(e)))
            }
            // The connection stopped reading before the end: never let a
            // body cut short pass for a complete one.
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "request body cut short",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.len == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
