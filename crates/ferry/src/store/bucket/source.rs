//! Where a response's bytes come from: the object store (ranges pushed down,
//! the version pinned by `If-Match`) or a cache file.
use crate::{Body, Source};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Streams ranges of one object version.
pub(super) struct ObjectSource {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) path: ObjectPath,
    pub(super) e_tag: Option<String>,
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
        Body::new(ExactBody {
            stream,
            left: range.end - range.start,
        })
    }
}

/// A byte stream that must yield exactly `left` bytes: a short or long object
/// is an error (the head is already sent; the connection is aborted), never a
/// corrupted body.
struct ExactBody {
    stream: BoxStream<'static, std::io::Result<Bytes>>,
    left: u64,
}

impl http_body::Body for ExactBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        match std::task::ready!(self.stream.poll_next_unpin(cx)) {
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

/// A small cached object's body, from memory.
pub(super) struct MemorySource(pub(super) Bytes);

impl Source for MemorySource {
    fn read(&self, range: Range<u64>) -> Body {
        // Ranges lie within the length, which is the body's length.
        Body::from(self.0.slice(range.start as usize..range.end as usize))
    }
}
