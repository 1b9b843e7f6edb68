//! The selected representation ([RFC 9110 §3.2]): metadata known before any byte
//! is read, and a source that streams exactly the declared bytes.
//!
//! [RFC 9110 §3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-3.2
use crate::Body;
use ferry_proto::{ContentCoding, EntityTag, Meta};
use http::HeaderValue;
use std::ops::Range;
use std::time::SystemTime;

/// Streams byte ranges of one representation.
///
/// Implementations must yield exactly `range.end - range.start` bytes or fail with an
/// error; after the response head is sent, an error can only abort the connection,
/// so a store checks what it can (a regular file, a known length) before returning
/// an [`Entity`].
pub trait Source: Send + Sync + 'static {
    /// A body that yields exactly the bytes in `range` (which lies within the length).
    fn read(&self, range: Range<u64>) -> Body;
}

/// A selected representation: its metadata and its bytes.
///
/// Everything a response decision needs (length, validators, type, coding) is
/// available without touching the body; the body is read only once the decision is
/// a 200 or 206 for GET.
pub struct Entity {
    meta: Meta,
    content_type: Option<HeaderValue>,
    coding: Option<ContentCoding>,
    /// The Content-Encoding value: the coding's token, or a value an
    /// application gave for bytes it stored coded. Set together with
    /// `meta.coded`, so the decision knows what the response will claim.
    encoding: Option<HeaderValue>,
    vary: bool,
    /// The ETag field value, when the store keeps it formatted.
    etag_value: Option<HeaderValue>,
    /// Whether the Content-Type is one on-the-fly compression applies to,
    /// when the store decided it once for many requests.
    pub(crate) compressible: Option<bool>,
    source: Box<dyn Source>,
}

impl std::fmt::Debug for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entity")
            .field("meta", &self.meta)
            .field("content_type", &self.content_type)
            .field("coding", &self.coding)
            .finish_non_exhaustive()
    }
}

impl Entity {
    /// Creates an entity of `len` bytes read from `source`.
    pub fn new(len: u64, source: impl Source) -> Self {
        Entity {
            meta: Meta {
                len,
                etag: None,
                last_modified: None,
                coded: false,
            },
            content_type: None,
            coding: None,
            encoding: None,
            vary: false,
            etag_value: None,
            compressible: None,
            source: Box::new(source),
        }
    }

    /// Sets the entity tag ([RFC 9110 §8.8.3]).
    ///
    /// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
    #[must_use]
    pub fn etag(mut self, etag: EntityTag) -> Self {
        self.meta.etag = Some(etag);
        self
    }

    /// The ETag as a header value, formatted once by a store that caches it.
    #[must_use]
    pub(crate) fn etag_value(mut self, v: HeaderValue) -> Self {
        self.etag_value = Some(v);
        self
    }

    /// The ETag header value: the cached one, or formatted now.
    pub(crate) fn etag_header(&self) -> Option<HeaderValue> {
        self.etag_value
            .clone()
            .or_else(|| self.meta.etag.as_ref().map(|t| t.to_header_value()))
    }

    /// Sets the modification time (sub-second precision allowed; Last-Modified is
    /// sent in whole seconds and never later than Date).
    #[must_use]
    pub fn last_modified(mut self, t: SystemTime) -> Self {
        self.meta.last_modified = Some(t);
        self
    }

    /// Sets the Content-Type.
    #[must_use]
    pub fn content_type(mut self, v: HeaderValue) -> Self {
        self.content_type = Some(v);
        self.compressible = None;
        self
    }

    /// Marks this entity as a precompressed variant in `coding`: 200 and 206
    /// carry `Content-Encoding`, and [`Meta::coded`] is set so the decision
    /// knows it (several ranges of it get the whole variant).
    #[must_use]
    pub fn coding(mut self, coding: ContentCoding) -> Self {
        self.coding = Some(coding);
        self.encoding = Some(HeaderValue::from_static(coding.as_str()));
        self.meta.coded = true;
        self
    }

    /// Marks the bytes as coded with `value`, any Content-Encoding an
    /// application names (django-sendfile2's `encoding`), not necessarily one
    /// of [`ContentCoding`]; sets [`Meta::coded`] like [`Entity::coding`].
    #[must_use]
    #[cfg_attr(not(feature = "fs"), allow(dead_code))] // Only `Sendfile` needs it.
    pub(crate) fn content_encoding(mut self, value: HeaderValue) -> Self {
        self.coding = None;
        self.encoding = Some(value);
        self.meta.coded = true;
        self
    }

    /// Marks the response as varying on Accept-Encoding: other variants could have
    /// been selected for another request ([RFC 9110 §12.5.5]).
    ///
    /// [RFC 9110 §12.5.5]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
    #[must_use]
    pub fn vary_encoding(mut self, vary: bool) -> Self {
        self.vary = vary;
        self
    }

    /// Length, validators, modification time and whether it is coded: all
    /// that [`ferry_proto::plan()`] decides on.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The Content-Type, if known.
    pub fn get_content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }

    /// The content coding of a precompressed variant.
    pub fn get_coding(&self) -> Option<ContentCoding> {
        self.coding
    }

    /// The Content-Encoding a 200 or 206 of this entity carries.
    pub(crate) fn content_encoding_header(&self) -> Option<&HeaderValue> {
        self.encoding.as_ref()
    }

    /// Whether the Content-Type is compressible ([`crate::mime::is_compressible`]).
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    pub(crate) fn compressible_type(&self) -> bool {
        self.compressible.unwrap_or_else(|| {
            self.content_type
                .as_ref()
                .is_some_and(|t| crate::mime::is_compressible(t.as_bytes()))
        })
    }

    /// Whether responses vary on Accept-Encoding.
    pub fn varies(&self) -> bool {
        self.vary
    }

    /// Streams `range` of the body.
    pub fn read(&self, range: Range<u64>) -> Body {
        self.source.read(range)
    }
}
