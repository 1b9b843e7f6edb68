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
    precompressed: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `key.br`, `key.zst`, `key.gz` when accepted (off by default).
    #[must_use]
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
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
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        OpenFuture::new(async move {
            if let Some((bytes, t)) = self.files.get(key.as_str()) {
                let ct = crate::mime::for_path(std::path::Path::new(key.as_str()));
                if self.precompressed {
                    for coding in accept.preferred() {
                        let name = format!("{}{}", key.as_str(), coding.extension());
                        if let Some((v, vt)) = self.files.get(&name) {
                            let tag =
                                EntityTag::from_len_mtime(v.len() as u64, *vt).for_coding(coding);
                            return Ok(Entity::new(v.len() as u64, MemSource(v.clone()))
                                .etag(tag)
                                .last_modified(*vt)
                                .content_type(ct)
                                .coding(coding)
                                .vary_encoding(true));
                        }
                    }
                }
                return Ok(Entity::new(bytes.len() as u64, MemSource(bytes.clone()))
                    .etag(EntityTag::from_len_mtime(bytes.len() as u64, *t))
                    .last_modified(*t)
                    .content_type(ct)
                    .vary_encoding(self.precompressed));
            }
            let prefix = format!("{}/", key.as_str());
            if key.as_str().is_empty() || self.files.keys().any(|k| k.starts_with(&prefix)) {
                return Err(Error::new(ErrorKind::IsDirectory));
            }
            Err(Error::new(ErrorKind::NotFound))
        })
    }
}
