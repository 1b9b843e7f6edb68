//! How an opened file's bytes reach a response: a small cached file from
//! memory, any other as a [`FileBody`] read in chunks on the blocking pool.
use crate::{Body, Source};
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::future::Future as _;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

/// Bytes read per chunk while streaming a file: bounds memory per response.
const CHUNK: u64 = 128 * 1024;

/// The contents of a small cached file (or cached object, for the bucket
/// store's disk cache).
pub(crate) struct InMemory(pub(crate) Bytes);

impl Source for InMemory {
    fn read(&self, range: Range<u64>) -> Body {
        // Ranges lie within the length, which is the contents' length.
        Body::from(self.0.slice(range.start as usize..range.end as usize))
    }
}

/// Reads a whole small file for the cache: `None` if it does not read back at
/// exactly its length.
pub(crate) fn read_small(file: &File, len: u64) -> Option<Bytes> {
    let len = usize::try_from(len).ok()?;
    let mut buf = vec![0u8; len];
    let mut at = 0;
    while at < len {
        match file.read_at(&mut buf[at..], at as u64) {
            Ok(0) => return None,
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(buf.into())
}

#[derive(Debug)]
pub(super) struct FsSource {
    pub(super) file: Arc<File>,
}

impl Source for FsSource {
    fn read(&self, range: Range<u64>) -> Body {
        Body::file(FileBody::new(self.file.clone(), range))
    }
}

/// A region of an open file, streamed in chunks of at most [`CHUNK`] bytes.
pub(crate) struct FileBody {
    file: Arc<File>,
    pos: u64,
    end: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    /// The bytes of `file` in `range`, which the caller knows lie within it.
    pub(crate) fn new(file: Arc<File>, range: Range<u64>) -> Self {
        FileBody {
            file,
            pos: range.start,
            end: range.end,
            pending: None,
        }
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.pos
    }

    pub(crate) fn region(&self) -> Option<(&File, Range<u64>)> {
        self.pending
            .is_none()
            .then_some((&*self.file, self.pos..self.end))
    }

    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.pending.is_none() {
            if self.pos >= self.end {
                return Poll::Ready(None);
            }
            let (file, pos) = (self.file.clone(), self.pos);
            let len = (self.end - self.pos).min(CHUNK) as usize;
            self.pending = Some(tokio::task::spawn_blocking(move || {
                read_exact_at(&file, pos, len)
            }));
        }
        let handle = self.pending.as_mut().expect("set above");
        let res = std::task::ready!(std::pin::Pin::new(handle).poll(cx));
        self.pending = None;
        let chunk = res.map_err(io::Error::other).and_then(|r| r);
        match chunk {
            Ok(b) => {
                self.pos += b.len() as u64;
                Poll::Ready(Some(Ok(b)))
            }
            Err(e) => {
                // Headers are out: the only honest thing left is to abort.
                self.pos = self.end;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

/// Reads exactly `len` bytes at `pos`; a file that shrank is an error, never a
/// short body.
fn read_exact_at(file: &File, pos: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], pos + filled as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while serving",
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf.freeze())
}
