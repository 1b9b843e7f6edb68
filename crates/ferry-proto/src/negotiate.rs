//! Accept-Encoding ([RFC 9110 §12.5.3]) with qvalues ([§12.4.2]).
use http::HeaderMap;

/// A content coding ferry can serve as a precompressed variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCoding { Br, Zstd, Gzip }

impl ContentCoding {
    /// All, in default preference order.
    pub const ALL: [ContentCoding; 3] = [ContentCoding::Br, ContentCoding::Zstd, ContentCoding::Gzip];
    /// Token for Content-Encoding: `br`, `zstd`, `gzip`.
    pub fn as_str(self) -> &'static str { todo!() }
    /// File suffix of the variant: `.br`, `.zst`, `.gz`.
    pub fn extension(self) -> &'static str { todo!() }
}

/// A parsed Accept-Encoding (all field lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptEncoding { /* private */ }

impl AcceptEncoding {
    /// Parses all Accept-Encoding lines; absent header => no coding acceptable but identity.
    pub fn from_headers(headers: &HeaderMap) -> Self { todo!() }
    /// Acceptable codings among `ContentCoding::ALL`, best first (qvalue desc, ties br > zstd > gzip).
    pub fn preferred(&self) -> impl Iterator<Item = ContentCoding> + '_ { todo!(); std::iter::empty() }
    /// Whether identity is acceptable (not excluded by `identity;q=0` or `*;q=0`).
    pub fn identity_acceptable(&self) -> bool { todo!() }
}
