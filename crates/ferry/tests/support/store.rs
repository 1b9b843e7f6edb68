//! An `ObjectStore` for tests: `object_store`'s in-memory store behind a
//! wrapper that counts the requests reaching it and can be slowed down, taken
//! down, hung or made to stall mid-body. Included by the tests that need it
//! (`#[path = "support/store.rs"] mod store;`).
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts GETs (with and without a body) and conditional ones; answers
/// slowly with `delay_ms`, fails every request while `down`, never answers
/// while `hang`; sends bodies in four pieces `gap_ms` apart, or (with
/// `stall`) the first piece and then nothing.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Shown in its `Display` (which names the store).
    pub(crate) label: &'static str,
    pub(crate) inner: Arc<InMemory>,
    pub(crate) heads: AtomicUsize,
    pub(crate) gets: AtomicUsize,
    pub(crate) conditional: AtomicUsize,
    pub(crate) ranged: AtomicUsize,
    pub(crate) delay_ms: AtomicU64,
    pub(crate) down: AtomicBool,
    pub(crate) hang: AtomicBool,
    pub(crate) gap_ms: AtomicU64,
    pub(crate) stall: AtomicBool,
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({}{})", self.label, self.inner)
    }
}

impl Store {
    fn unreachable(&self) -> object_store::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic {
                store: "test",
                source: "connection refused".into(),
            });
        }
        Ok(())
    }
    /// Over `inner`, as it is.
    #[allow(dead_code)] // Each test binary includes this file; not all call it.
    pub(crate) fn over(inner: Arc<InMemory>) -> Self {
        Store {
            inner,
            ..Store::default()
        }
    }

    /// GETs with a body so far.
    pub(crate) fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Store {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let counter = if options.head {
            &self.heads
        } else {
            &self.gets
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if options.if_none_match.is_some() {
            self.conditional.fetch_add(1, Ordering::SeqCst);
        }
        if options.range.is_some() {
            self.ranged.fetch_add(1, Ordering::SeqCst);
        }
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.unreachable()?;
        let head = options.head;
        let r = self.inner.get_opts(location, options).await?;
        let gap = Duration::from_millis(self.gap_ms.load(Ordering::SeqCst));
        let stall = self.stall.load(Ordering::SeqCst);
        if head || (gap.is_zero() && !stall) {
            return Ok(r);
        }
        let (meta, range, attributes) = (r.meta.clone(), r.range.clone(), r.attributes.clone());
        let body = r.bytes().await?;
        let piece = body.len().div_ceil(4).max(1);
        let mut pieces: Vec<_> = body.chunks(piece).map(Bytes::copy_from_slice).collect();
        if stall {
            pieces.truncate(1);
        }
        let s = futures_util::stream::iter(pieces).then(move |b| async move {
            tokio::time::sleep(gap).await;
            Ok(b)
        });
        let s = if stall {
            s.chain(futures_util::stream::pending()).boxed()
        } else {
            s.boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(s),
            meta,
            range,
            attributes,
        })
    }

    async fn delete(&self, location: &ObjectPath) -> object_store::Result<()> {
        self.inner.delete(location).await
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.unreachable()?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
    ) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}
