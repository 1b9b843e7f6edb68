//! Entity tags ([RFC 9110 §8.8.3]).
use std::time::SystemTime;

/// An entity tag: an opaque quoted string, optionally marked weak (`W/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    /// The opaque-tag *without* quotes; only etagc characters (%x21 / %x23-7E / obs-text).
    opaque: Box<str>,
}

impl EntityTag {
    /// A strong tag with the given opaque part (without quotes). Errors on invalid characters.
    pub fn strong(opaque: &str) -> Result<Self, crate::ParseError> { todo!() }
    /// A weak tag with the given opaque part (without quotes).
    pub fn weak(opaque: &str) -> Result<Self, crate::ParseError> { todo!() }
    /// Whether the tag carries `W/`.
    pub fn is_weak(&self) -> bool { self.weak }
    /// The opaque part, without quotes.
    pub fn opaque(&self) -> &str { &self.opaque }
    /// Strong comparison §8.8.3.2: both strong and opaque parts equal.
    pub fn strong_eq(&self, other: &EntityTag) -> bool { todo!() }
    /// Weak comparison §8.8.3.2: opaque parts equal.
    pub fn weak_eq(&self, other: &EntityTag) -> bool { todo!() }
    /// Derives a strong tag from a length and modification time with sub-second precision,
    /// never the inode: stable across restarts and replicas; a same-size rewrite in the same
    /// second changes it. Format opaque (e.g. `"<len hex>-<secs hex>.<nanos hex>"`).
    pub fn from_len_mtime(len: u64, mtime: SystemTime) -> Self { todo!() }
    /// The header value, e.g. `W/"abc"`.
    pub fn to_header_value(&self) -> http::HeaderValue { todo!() }
}

impl std::str::FromStr for EntityTag {
    type Err = crate::ParseError;
    /// Parses exactly one entity-tag (surrounding OWS allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> { todo!() }
}

impl std::fmt::Display for EntityTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { todo!() }
}

/// Parses one entity-tag from bytes (surrounding OWS allowed); `None` if invalid.
pub fn parse(value: &[u8]) -> Option<EntityTag> { todo!() }

/// The result of matching a tag against an `If-Match`/`If-None-Match` field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// The field is `*`.
    Any,
    /// Some member matched.
    Matched,
    /// A valid list, no member matched.
    NoMatch,
    /// Not a valid `"*" / #entity-tag` value.
    Invalid,
}

/// Matches `tag` against one field value (`*` or a comma list of entity-tags, §8.8.3,
/// §5.6.1: `"a,b"` is one tag), with strong or weak comparison.
pub fn match_list(value: &[u8], tag: Option<&EntityTag>, strong: bool) -> ListMatch { todo!() }
