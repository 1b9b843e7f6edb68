//! On-the-fly compression: a coded variant of a compressible representation
//! that has no precompressed sibling, made once and kept in a bounded cache.
//!
//! The decision is [`ferry_proto::plan::on_the_fly`]'s; this module only
//! makes (or finds) the bytes and turns them into another [`Entity`] with its
//! own ETag (strong when the file's is), which [`ferry_proto::plan()`] then
//! decides on as on any representation (so a 304 is per coding).
use crate::{Body, Entity, Source};
use bytes::Bytes;
use ferry_proto::{plan, AcceptEncoding, ContentCoding, EntityTag};
use http::{HeaderMap, Method};
use std::io::{self, Write as _};
use std::ops::{Range, RangeInclusive};

mod cache;
use cache::{Variant, VariantCache, Version};

/// The server's order among equally weighted codings: zstd (brotli's ratio
/// at a fraction of its time), then brotli, then gzip.
const ORDER: [ContentCoding; 3] = [ContentCoding::Zstd, ContentCoding::Br, ContentCoding::Gzip];

/// How ferry compresses on the fly: levels per coding, the sizes it codes,
/// and the bound of the cache of coded variants.
///
/// The defaults favour speed, since the first request for a file waits for
/// its compression: zstd 9, brotli 5, gzip 6 (nginx's usual level); files
/// from 1 KiB to 8 MiB; a 32 MiB cache.
///
/// # Examples
///
/// ```
/// use ferry::compress::Compress;
/// use ferry::proto::ContentCoding;
/// let c = Compress::new()
///     .level(ContentCoding::Br, 4)
///     .cache_size(64 << 20)
///     .max_size(4 << 20);
/// assert_eq!(c.get_level(ContentCoding::Br), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compress {
    /// In [`ContentCoding::ALL`] order: br, zstd, gzip.
    levels: [i32; 3],
    cache_bytes: usize,
    sizes: RangeInclusive<u64>,
}

impl Default for Compress {
    fn default() -> Self {
        Compress::new()
    }
}

impl Compress {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Compress {
            levels: [5, 9, 6],
            cache_bytes: 32 << 20,
            sizes: 1024..=8 << 20,
        }
    }

    /// The levels `coding` accepts: zstd 1–19 (the levels whose window stays
    /// within what browsers accept), brotli 0–11, gzip 1–9.
    pub fn levels(coding: ContentCoding) -> RangeInclusive<i32> {
        match coding {
            ContentCoding::Zstd => 1..=19,
            ContentCoding::Br => 0..=11,
            _ => 1..=9,
        }
    }

    /// The level used for `coding`, clamped to [`Compress::levels`].
    #[must_use]
    pub fn level(mut self, coding: ContentCoding, level: i32) -> Self {
        let r = Compress::levels(coding);
        self.levels[coding.index()] = level.clamp(*r.start(), *r.end());
        self
    }

    /// The level `coding` is compressed at.
    pub fn get_level(&self, coding: ContentCoding) -> i32 {
        self.levels[coding.index()]
    }

    /// The most bytes of coded variants kept in memory, their bookkeeping
    /// included (default 32 MiB); 0 keeps none, so every request compresses
    /// again.
    #[must_use]
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// The largest file compressed (default 8 MiB); larger ones are sent as
    /// they are.
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.sizes = *self.sizes.start()..=bytes;
        self
    }

    /// The smallest file compressed (default 1 KiB): below it, a coding's
    /// framing eats most of the gain.
    #[must_use]
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.sizes = bytes..=*self.sizes.end();
        self
    }

    /// Compresses `data` in `coding` at the configured level.
    ///
    /// # Errors
    ///
    /// When the encoder fails (zstd's context cannot be made: out of memory).
    pub fn encode(&self, coding: ContentCoding, data: &[u8]) -> io::Result<Vec<u8>> {
        let level = self.get_level(coding);
        match coding {
            // RFC 9659 §3: "the Window_Size MUST NOT exceed 8 MB" (window log
            // 23), the most a browser must accept. A one-shot compression
            // knows the size: zstd shrinks the window to fit the content (a
            // single-segment frame asks for no more than the content), and no
            // level up to 19 uses a window log above 23 (`clevels.h`).
            ContentCoding::Zstd => zstd::bulk::compress(data, level),
            ContentCoding::Br => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: level,
                    lgwin: 22,
                    size_hint: data.len(),
                    ..Default::default()
                };
                let mut out = Vec::with_capacity(data.len() / 3);
                brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
                Ok(out)
            }
            _ => {
                // No file name and mtime 0 in the header: the bytes depend only
                // on the content (a strong ETag names exactly them).
                let level = flate2::Compression::new(u32::try_from(level).unwrap_or(6));
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), level);
                enc.write_all(data)?;
                enc.finish()
            }
        }
    }
}

/// The bytes of a coded variant, from memory.
struct Coded(Bytes);

impl Source for Coded {
    fn read(&self, range: Range<u64>) -> Body {
        // Ranges lie within the length, which is the bytes' length.
        Body::from(self.0.slice(range.start as usize..range.end as usize))
    }
}

/// A [`Compress`] at work: its settings, its cache and its permits.
#[derive(Debug)]
pub(crate) struct Compressor {
    config: Compress,
    cache: VariantCache,
    /// One per compression under way, as many as the machine has cores:
    /// each reads a whole file (up to [`Compress::max_size`]) and keeps a
    /// blocking thread busy, so a burst of misses must not start one each.
    /// The coding holds its permit, also when the request is gone.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Variants made, for tests.
    #[cfg(test)]
    made: std::sync::atomic::AtomicUsize,
}

impl Compressor {
    pub(crate) fn new(config: Compress) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Compressor {
            cache: VariantCache::new(config.cache_bytes),
            config,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)),
            #[cfg(test)]
            made: Default::default(),
        }
    }

    /// How many variants were made.
    #[cfg(test)]
    pub(crate) fn made(&self) -> usize {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `entity` may have a coded variant made: it is not coded
    /// already (a sibling was chosen) and its type is compressible. The
    /// synchronous test every response pays; only those that pass it go on to
    /// [`Compressor::select`].
    pub(crate) fn applies(entity: &Entity) -> bool {
        !entity.meta().coded && entity.compressible_type()
    }

    /// `entity` (opened as `key`, [`Compressor::applies`] to it), or its coded
    /// variant when [`plan::on_the_fly`] picks a coding. Every response of a
    /// compressible type varies on Accept-Encoding, identity ones too.
    ///
    /// Concurrent first requests for one variant may each compress it (the
    /// last result is kept): nobody waits for another's compression. Nor for
    /// a permit: when as many compressions as there are cores are under way,
    /// a miss gets identity this time (with `Vary`, so nothing caches it for
    /// the coded requests).
    pub(crate) async fn select(
        &self,
        method: &Method,
        headers: &HeaderMap,
        accept: &AcceptEncoding,
        key: &str,
        entity: Entity,
    ) -> Entity {
        debug_assert!(Compressor::applies(&entity));
        let entity = entity.vary_encoding(true);
        let Some(coding) = plan::on_the_fly(
            method,
            headers,
            accept,
            entity.meta(),
            &self.config.sizes,
            &ORDER,
        ) else {
            return entity;
        };
        // Without an ETag a variant could not be told apart from the next
        // version's: identity then.
        let Some(etag) = entity.meta().etag.clone() else {
            return entity;
        };
        let version = Version {
            etag,
            len: entity.meta().len,
            modified: entity.meta().last_modified,
        };
        let variant = match self.cache.get(key, coding, &version) {
            Some(v) => v,
            // A revalidation of a variant no longer cached (evicted, or made
            // before a restart): its tag is derived from the identity's, so
            // If-None-Match can be answered without compressing the file.
            None => {
                let tag = version.etag.for_coding(coding);
                if revalidates(headers, &tag, &version) {
                    // No bytes (length 0): `plan` sends none.
                    return coded(&entity, Bytes::new(), tag, coding);
                }
                // Choice: identity now rather than a wait (see above).
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    return entity;
                };
                match self.make(&entity, coding, &version, permit).await {
                    Some(v) => {
                        self.cache.insert(key, coding, version, v.clone());
                        v
                    }
                    None => return entity,
                }
            }
        };
        let Some(bytes) = variant.bytes else {
            return entity; // Coding did not make it smaller.
        };
        tracing::debug!(
            key,
            coding = coding.as_str(),
            len = bytes.len(),
            "coded on the fly"
        );
        coded(&entity, bytes, variant.etag, coding).etag_value(variant.etag_value)
    }

    /// Reads the whole identity representation and codes it off the
    /// runtime's workers, holding `permit` until done; `None` when the store fails or the bytes read do
    /// not match the length (a file changing underneath: identity is sent,
    /// and its own checks apply).
    async fn make(
        &self,
        entity: &Entity,
        coding: ContentCoding,
        v: &Version,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Option<Variant> {
        let data = collect(entity.read(0..v.len), v.len).await?;
        #[cfg(test)]
        self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let config = self.config.clone();
        let coded = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            config.encode(coding, &data).map(|c| (c, data.len()))
        })
        .await
        .ok()?
        .ok()?;
        let (coded, len) = coded;
        // §8.8.3: each coding is its own representation with its own tag.
        let etag = v.etag.for_coding(coding);
        let etag_value = etag.to_header_value();
        Some(Variant {
            // Only when it saves something: otherwise identity is sent.
            bytes: (coded.len() < len).then(|| Bytes::from(coded)),
            etag,
            etag_value,
        })
    }
}

/// Whether the request's If-None-Match matches `tag` by weak comparison
/// ([RFC 9110 §13.1.2]), so that [`plan()`] answers a GET or HEAD of the
/// variant without a body, which then need not be made (304, or 412 when an If-Match fails first).
///
/// Only If-None-Match: a date in If-Modified-Since would also match a
/// variant this client was never sent, and so does not spare the work.
///
/// [RFC 9110 §13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
fn revalidates(headers: &HeaderMap, tag: &EntityTag, version: &Version) -> bool {
    let v = ferry_proto::precondition::Validators {
        etag: Some(tag),
        last_modified: version.modified,
        len: version.len,
    };
    ferry_proto::precondition::if_none_match(headers, &v) == ferry_proto::Condition::False
}

/// The variant of `entity` in `coding`: `bytes`, with its own tag and the
/// identity's type and modification time.
fn coded(entity: &Entity, bytes: Bytes, etag: EntityTag, coding: ContentCoding) -> Entity {
    let mut e = Entity::new(bytes.len() as u64, Coded(bytes))
        .etag(etag)
        .coding(coding)
        .vary_encoding(true);
    if let Some(t) = entity.get_content_type() {
        e = e.content_type(t.clone());
    }
    if let Some(t) = entity.meta().last_modified {
        e = e.last_modified(t);
    }
    e
}

/// The whole body, when it is exactly `len` bytes.
async fn collect(mut body: Body, len: u64) -> Option<Vec<u8>> {
    use http_body::Body as _;
    let mut out = Vec::with_capacity(usize::try_from(len).ok()?);
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return None,
        }
    }
    (out.len() as u64 == len).then_some(out)
}

#[cfg(test)]
mod tests;
