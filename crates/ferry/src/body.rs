//! The response body: empty, in memory, a file region, or a chain of them.
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

type Boxed = Pin<Box<dyn http_body::Body<Data = Bytes, Error = io::Error> + Send>>;

/// The body of a ferry response. Memory is bounded: file regions are read a chunk
/// at a time, never whole.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    #[cfg(feature = "fs")]
    File(crate::store::fs::FileBody),
    Boxed(Boxed),
    Chain(VecDeque<Body>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(self))
            .finish()
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body { kind: Kind::Empty }
    }

    /// A body of any `http_body::Body` yielding `Bytes`.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = io::Error> + Send + 'static,
    {
        Body {
            kind: Kind::Boxed(Box::pin(body)),
        }
    }

    /// The concatenation of `parts`, in order.
    pub fn chain(parts: impl IntoIterator<Item = Body>) -> Self {
        Body {
            kind: Kind::Chain(parts.into_iter().collect()),
        }
    }

    #[cfg(feature = "fs")]
    pub(crate) fn file(f: crate::store::fs::FileBody) -> Self {
        Body {
            kind: Kind::File(f),
        }
    }

    /// The file region this body reads, if it is exactly one file region: servers
    /// use it for zero-copy sends.
    #[cfg(feature = "fs")]
    pub fn as_file(&self) -> Option<(&std::fs::File, std::ops::Range<u64>)> {
        match &self.kind {
            Kind::File(f) => f.region(),
            _ => None,
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body {
            kind: Kind::Full(Some(b)),
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from(Bytes::from(s))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            #[cfg(feature = "fs")]
            Kind::File(f) => f.poll_chunk(cx).map(|o| o.map(|r| r.map(Frame::data))),
            Kind::Boxed(b) => b.as_mut().poll_frame(cx),
            Kind::Chain(parts) => loop {
                let Some(front) = parts.front_mut() else {
                    return Poll::Ready(None);
                };
                match Pin::new(front).poll_frame(cx) {
                    Poll::Ready(None) => {
                        parts.pop_front();
                    }
                    other => return other,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            #[cfg(feature = "fs")]
            Kind::File(f) => f.remaining() == 0,
            Kind::Boxed(b) => b.is_end_stream(),
            Kind::Chain(parts) => parts.iter().all(|p| p.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            #[cfg(feature = "fs")]
            Kind::File(f) => SizeHint::with_exact(f.remaining()),
            Kind::Boxed(b) => b.size_hint(),
            Kind::Chain(parts) => {
                let (mut lower, mut upper) = (0u64, Some(0u64));
                for h in parts.iter().map(|p| p.size_hint()) {
                    lower = lower.saturating_add(h.lower());
                    upper = upper.zip(h.upper()).map(|(a, b)| a.saturating_add(b));
                }
                let mut total = SizeHint::new();
                total.set_lower(lower);
                if let Some(u) = upper {
                    total.set_upper(u);
                }
                total
            }
        }
    }
}
