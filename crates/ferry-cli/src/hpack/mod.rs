//! HPACK ([RFC 7541]), the header compression of HTTP/2: a [`Decoder`] for
//! request header blocks and an [`Encoder`] for response ones, one of each
//! per connection.
//!
//! This module only turns header blocks into fields and fields into blocks;
//! it never checks what the fields say (names' case and characters,
//! pseudo-fields, list size: the HTTP/2 connection does), and never does I/O.
//! Each side keeps a dynamic table in step with the peer's, so blocks must
//! be decoded, and encoded blocks sent, in the order of the connection.
//!
//! Choices (RFC 7541 leaves them to implementations, §2.3, §5.1, §7.1):
//! - The encoder indexes (§6.2.1) every field but `set-cookie`, which goes
//!   never indexed (§6.2.3, §7.1.3), [`encoder::indexed`]: within a second a
//!   connection's responses repeat `date`, and repeated requests for a file
//!   its `etag`, `last-modified` and `content-length`, so most fields after
//!   the first response are one byte. A field larger than the table goes as
//!   a literal without indexing (§6.2.2).
//! - The encoder Huffman-codes (§5.2) only what it inserts, and only when
//!   that is shorter: a value sent in full once, then by index; the
//!   literals it does not insert are copied as they are.
//! - The encoder's table is at most 4096 bytes, whatever larger
//!   SETTINGS_HEADER_TABLE_SIZE the peer allows.
//! - The decoder refuses integers above `u32::MAX` or with more than five
//!   continuation bytes (§5.1 lets a decoder limit them).
//!
//! [RFC 7541]: https://www.rfc-editor.org/rfc/rfc7541
mod decoder;
pub(crate) mod encoder;
mod huffman;
mod table;
#[cfg(test)]
mod tests;

pub(crate) use decoder::Decoder;
pub(crate) use encoder::Encoder;

/// Why a header block could not be decoded: each is a COMPRESSION_ERROR,
/// which ends the connection ([RFC 9113 §4.3]).
///
/// [RFC 9113 §4.3]: https://www.rfc-editor.org/rfc/rfc9113#section-4.3
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The block ends inside a representation's integer or its header.
    Truncated,
    /// An integer above `u32::MAX` or with more than five continuation
    /// bytes ([RFC 7541 §5.1]).
    ///
    /// [RFC 7541 §5.1]: https://www.rfc-editor.org/rfc/rfc7541#section-5.1
    IntegerOverflow,
    /// Index 0, or one past the static and dynamic tables ([RFC 7541 §2.3.3]).
    ///
    /// [RFC 7541 §2.3.3]: https://www.rfc-editor.org/rfc/rfc7541#section-2.3.3
    BadIndex,
    /// A Huffman-coded string with EOS in it, or padding longer than 7 bits
    /// or not all ones ([RFC 7541 §5.2]).
    ///
    /// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
    BadHuffman,
    /// A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we
    /// advertised, or after the first field of a block ([RFC 7541 §4.2],
    /// §6.3).
    ///
    /// [RFC 7541 §4.2]: https://www.rfc-editor.org/rfc/rfc7541#section-4.2
    TableSizeUpdate,
    /// A string literal longer than the rest of the block ([RFC 7541 §5.2]).
    ///
    /// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
    StringTooLong,
}
