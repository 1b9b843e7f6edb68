//! An in-memory store, for tests and examples.
use crate::store::{Key, OpenFuture, Store};
use crate::{Body, Entity, Error, ErrorKind, Source};
use bytes::Bytes;
use ferry_proto::{AcceptEncoding, EntityTag};
use std::collections::HashMap;
use std::ops::Range;
use std::time::SystemTime;

/// Files held in memory, keyed by [`Key`] string.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    files: HashMap<String, (Bytes, SystemTime)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file at `key` with the given contents and modification time.
    #[must_use]
    pub fn file(mut self, key: &str, contents: impl Into<Bytes>, modified: SystemTime) -> Self {
        self.files
            .insert(key.to_owned(), (contents.into(), modified));
        self
    }
}

struct MemSource(Bytes);

impl Source for MemSource {
    fn read(&self, range: Range<u64>) -> Body {
        Body::from(self.0.slice(range.start as usize..range.end as usize))
    }
}

impl Store for MemoryStore {
    fn open<'a>(&'a self, key: &'a Key, _: &'a AcceptEncoding) -> OpenFuture<'a> {
        OpenFuture::new(async move {
            if let Some((bytes, t)) = self.files.get(key.as_str()) {
                return Ok(Entity::new(bytes.len() as u64, MemSource(bytes.clone()))
                    .etag(EntityTag::from_len_mtime(bytes.len() as u64, *t))
                    .last_modified(*t)
                    .content_type(crate::mime::for_path(std::path::Path::new(key.as_str()))));
            }
            let prefix = format!("{}/", key.as_str());
            if key.as_str().is_empty() || self.files.keys().any(|k| k.starts_with(&prefix)) {
                return Err(Error::new(ErrorKind::IsDirectory));
            }
            Err(Error::new(ErrorKind::NotFound))
        })
    }
}
