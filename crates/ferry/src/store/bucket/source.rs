//! Where a response's bytes come from: the object store (ranges pushed down,
//! the version pinned by `If-Match`) or a cache file.
use crate::{Body, Source};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};
use std::future::Future as _;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Streams ranges of one object version.
pub(super) struct ObjectSource {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) path: ObjectPath,
    pub(super) e_tag: Option<String>,
    /// The longest wait for the next piece (the store's answer included).
    pub(super) timeout: Option<Duration>,
}

impl Source for ObjectSource {
    fn read(&self, range: Range<u64>) -> Body {
        let (store, path) = (self.store.clone(), self.path.clone());
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            // The version the decision was made for, or nothing.
            if_match: self.e_tag.clone(),
            ..GetOptions::default()
        };
        let stream = futures_util::stream::once(async move {
            store
                .get_opts(&path, opts)
                .await
                .map(|r| r.into_stream())
                .map_err(std::io::Error::other)
        })
        .flat_map(|r| match r {
            Ok(s) => s.map(|c| c.map_err(std::io::Error::other)).boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed();
        Body::new(ExactBody::new(
            stream,
            range.end - range.start,
            self.timeout,
        ))
    }
}

/// A byte stream that must yield exactly `left` bytes: a short or long object
/// is an error (the head is already sent; the connection is aborted), never a
/// corrupted body.
/// With a timeout, no more than that may pass waiting for the next piece
/// (the first one included: the store's answer to the body request).
pub(super) struct ExactBody {
    stream: BoxStream<'static, std::io::Result<Bytes>>,
    left: u64,
    stall: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl ExactBody {
    pub(super) fn new(
        stream: BoxStream<'static, std::io::Result<Bytes>>,
        left: u64,
        timeout: Option<Duration>,
    ) -> Self {
        let stall = timeout.map(|t| (t, Box::pin(tokio::time::sleep(t))));
        ExactBody {
            stream,
            left,
            stall,
        }
    }
}

impl http_body::Body for ExactBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let next = match self.stream.poll_next_unpin(cx) {
            Poll::Ready(next) => next,
            Poll::Pending => {
                let waiting = self.left > 0;
                let expired = match &mut self.stall {
                    Some((t, sleep)) if waiting => sleep.as_mut().poll(cx).is_ready().then_some(*t),
                    _ => None,
                };
                if let Some(t) = expired {
                    self.left = 0;
                    self.stall = None;
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the store sent nothing for {} s", t.as_secs_f32()),
                    ))));
                }
                return Poll::Pending;
            }
        };
        if let Some((t, sleep)) = &mut self.stall {
            let deadline = tokio::time::Instant::now() + *t;
            sleep.as_mut().reset(deadline);
        }
        match next {
            Some(Ok(chunk)) => {
                let n = chunk.len() as u64;
                if n > self.left {
                    self.left = 0;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "object longer than its metadata said",
                    ))));
                }
                self.left -= n;
                Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
            }
            Some(Err(e)) => {
                self.left = 0;
                Poll::Ready(Some(Err(e)))
            }
            None if self.left > 0 => {
                self.left = 0;
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "object shorter than its metadata said",
                ))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// Streams ranges of a cached object from its file (a file region: servers
/// send it with `sendfile(2)`).
pub(super) struct DiskSource {
    pub(super) file: Arc<std::fs::File>,
    /// Where the body starts in the file.
    pub(super) offset: u64,
}

impl Source for DiskSource {
    fn read(&self, range: Range<u64>) -> Body {
        let at = self.offset;
        Body::file(crate::store::fs::FileBody::new(
            self.file.clone(),
            range.start + at..range.end + at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Pieces `gap` apart, then (with `stall`) a wait for ever.
    fn trickle(
        pieces: usize,
        gap: Duration,
        stall: bool,
    ) -> BoxStream<'static, std::io::Result<Bytes>> {
        let flowing = futures_util::stream::iter(0..pieces).then(move |_| async move {
            tokio::time::sleep(gap).await;
            Ok(Bytes::from_static(b"0123456789"))
        });
        if stall {
            flowing.chain(futures_util::stream::pending()).boxed()
        } else {
            flowing.boxed()
        }
    }

    async fn drain(mut body: ExactBody) -> (usize, Option<std::io::Error>) {
        use http_body_util::BodyExt as _;
        let mut got = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => got += f.into_data().map_or(0, |d| d.len()),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test]
    async fn a_flowing_body_may_outlast_the_timeout_but_a_stall_may_not() {
        let t = Duration::from_millis(150);
        // 8 pieces 50 ms apart: 400 ms in all, past the 150 ms bound, never
        // 150 ms without a piece. Used to be cut by the store client's
        // overall request timeout.
        let (got, err) = drain(ExactBody::new(
            trickle(8, Duration::from_millis(50), false),
            80,
            Some(t),
        ))
        .await;
        assert_eq!((got, err.map(|e| e.to_string())), (80, None));
        // 3 pieces, then nothing: an error after the bound, not a hang.
        let stalled = ExactBody::new(trickle(3, Duration::from_millis(10), true), 80, Some(t));
        let (got, err) = tokio::time::timeout(Duration::from_secs(2), drain(stalled))
            .await
            .expect("a stalled body ends within the bound, it does not hang");
        assert_eq!(got, 30);
        let err = err.expect("a stall is an error");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
