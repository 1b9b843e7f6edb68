//! Stores: where representations come from.
//!
//! A [`Store`] maps a validated [`Key`] to an [`Entity`]: metadata first, bytes
//! later. Stores only stat and stream; every HTTP decision is made by
//! [`ferry_proto::plan()`] over the metadata they return.
use crate::{Entity, Error};
use ferry_proto::AcceptEncoding;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "object-store")]
pub mod bucket;
#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(feature = "fs")]
pub mod fs;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
#[cfg(all(feature = "fs", target_os = "linux"))]
mod open_cache;
pub mod path;

pub use path::{Hidden, Key};

/// A source of representations addressed by [`Key`].
pub trait Store: Send + Sync + 'static {
    /// Opens the representation at `key`, choosing a precompressed variant that
    /// `accept` allows when the store has one. Reads metadata only.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when there is nothing
    /// servable at `key`, [`ErrorKind::IsDirectory`](crate::ErrorKind::IsDirectory)
    /// when `key` is a directory, [`ErrorKind::Store`](crate::ErrorKind::Store) when
    /// the store failed.
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a>;

    /// Lists the directory at `key`, for directory browsing. Reads names and
    /// metadata only, never contents. Stores without directories keep the
    /// default, which answers not found.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when `key` is not a
    /// listable directory.
    fn list<'a>(&'a self, key: &'a Key) -> ListFuture<'a> {
        let _ = key;
        ListFuture::new(async { Err(Error::new(crate::ErrorKind::NotFound)) })
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirEntry {
    /// The entry's name (one path segment).
    pub name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Length in bytes (0 for directories).
    pub len: u64,
    /// Modification time, when known.
    pub modified: Option<std::time::SystemTime>,
}

impl DirEntry {
    /// An entry named `name`.
    pub fn new(
        name: String,
        is_dir: bool,
        len: u64,
        modified: Option<std::time::SystemTime>,
    ) -> Self {
        DirEntry {
            name,
            is_dir,
            len,
            modified,
        }
    }
}

/// The future returned by [`Store::list`].
pub struct ListFuture<'a>(Pin<Box<dyn Future<Output = Result<Vec<DirEntry>, Error>> + Send + 'a>>);

impl<'a> ListFuture<'a> {
    /// Wraps a future.
    pub fn new(f: impl Future<Output = Result<Vec<DirEntry>, Error>> + Send + 'a) -> Self {
        ListFuture(Box::pin(f))
    }
}

impl Future for ListFuture<'_> {
    type Output = Result<Vec<DirEntry>, Error>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The future returned by [`Store::open`].
pub struct OpenFuture<'a>(OpenInner<'a>);

enum OpenInner<'a> {
    /// Answered without waiting (an open-file cache hit): nothing to box.
    Ready(Option<Result<Entity, Error>>),
    Pending(Pin<Box<dyn Future<Output = Result<Entity, Error>> + Send + 'a>>),
}

impl<'a> OpenFuture<'a> {
    /// Wraps a future.
    pub fn new(f: impl Future<Output = Result<Entity, Error>> + Send + 'a) -> Self {
        OpenFuture(OpenInner::Pending(Box::pin(f)))
    }

    /// A future that is already complete, without allocating.
    pub fn ready(result: Result<Entity, Error>) -> Self {
        OpenFuture(OpenInner::Ready(Some(result)))
    }
}

impl Future for OpenFuture<'_> {
    type Output = Result<Entity, Error>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match &mut self.0 {
            OpenInner::Ready(r) => {
                std::task::Poll::Ready(r.take().expect("OpenFuture polled after completion"))
            }
            OpenInner::Pending(f) => f.as_mut().poll(cx),
        }
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        (**self).open(key, accept)
    }
    fn list<'a>(&'a self, key: &'a Key) -> ListFuture<'a> {
        (**self).list(key)
    }
}
