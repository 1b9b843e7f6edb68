//! Stores: where representations come from.
//!
//! A [`Store`] maps a validated [`Key`] to an [`Entity`]: metadata first, bytes
//! later. Stores only stat and stream; every HTTP decision is made by
//! [`ferry_proto::plan`] over the metadata they return.
use crate::{Entity, Error};
use ferry_proto::AcceptEncoding;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "fs")]
pub mod fs;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
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
}

/// The future returned by [`Store::open`].
pub struct OpenFuture<'a>(Pin<Box<dyn Future<Output = Result<Entity, Error>> + Send + 'a>>);

impl<'a> OpenFuture<'a> {
    /// Wraps a future.
    pub fn new(f: impl Future<Output = Result<Entity, Error>> + Send + 'a) -> Self {
        OpenFuture(Box::pin(f))
    }
}

impl Future for OpenFuture<'_> {
    type Output = Result<Entity, Error>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        (**self).open(key, accept)
    }
}
