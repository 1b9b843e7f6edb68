//! Decoding header blocks ([RFC 7541 §3], §6).
//!
//! [RFC 7541 §3]: https://www.rfc-editor.org/rfc/rfc7541#section-3
use super::huffman;
use super::table::{DynamicTable, STATIC};
use super::DecodeError;

/// RFC 7541 decoder, one per connection: the dynamic table the peer's
/// encoder fills, and scratch space for Huffman-coded strings.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE we advertised.
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Decoder {
    /// A decoder for a connection on which we advertised
    /// SETTINGS_HEADER_TABLE_SIZE `max_table_size` (4096): its dynamic table
    /// starts at that size, and a dynamic table size update above it is an
    /// error ([RFC 7541 §4.2], §6.3).
    ///
    /// [RFC 7541 §4.2]: https://www.rfc-editor.org/rfc/rfc7541#section-4.2
    pub(crate) fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            limit: max_table_size,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes one complete header block (HEADERS and CONTINUATION
    /// fragments joined), calling `field(name, value)` for each field in
    /// order, with names and values as raw bytes ([RFC 7541 §3.2]); the
    /// caller checks their case and characters, and the list's size.
    ///
    /// # Errors
    ///
    /// Any [`DecodeError`]: the connection must then end with
    /// COMPRESSION_ERROR, since the dynamic table may be out of step.
    ///
    /// [RFC 7541 §3.2]: https://www.rfc-editor.org/rfc/rfc7541#section-3.2
    pub(crate) fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let mut pos = 0;
        // Whether a field has been decoded: size updates only come before.
        let mut started = false;
        while let Some(&b) = block.get(pos) {
            if b & 0x80 != 0 {
                // §6.1 Indexed Header Field: 1xxxxxxx, a 7-bit index.
                let i = integer(block, &mut pos, 7)?;
                let (name, value) = entry(&self.table, i)?;
                field(name, value);
            } else if b & 0xc0 == 0x40 {
                // §6.2.1 Literal Header Field with Incremental Indexing:
                // 01xxxxxx, a 6-bit name index (0: a literal name).
                let i = integer(block, &mut pos, 6)?;
                let name = if i == 0 {
                    string(block, &mut pos, &mut self.name)?
                } else {
                    entry(&self.table, i)?.0
                };
                let value = string(block, &mut pos, &mut self.value)?;
                // The entry is copied before anything is evicted: "the
                // referenced name [may be] evicted from the dynamic table
                // prior to inserting the new entry" (§4.4).
                let name_len = name.len();
                let mut buf = Vec::with_capacity(name_len + value.len());
                buf.extend_from_slice(name);
                buf.extend_from_slice(value);
                field(&buf[..name_len], &buf[name_len..]);
                self.table.insert(buf.into_boxed_slice(), name_len);
            } else if b & 0xe0 == 0x20 {
                // §6.3 Dynamic Table Size Update: 001xxxxx, a 5-bit size.
                // "This dynamic table size update MUST occur at the
                // beginning of the first header block following the change
                // to the dynamic table size." (§4.2), and nowhere else.
                if started {
                    return Err(DecodeError::TableSizeUpdate);
                }
                let max = integer(block, &mut pos, 5)?;
                // "The new maximum size MUST be lower than or equal to the
                // limit [...] (see Section 4.2)" (§6.3).
                if max > self.limit {
                    return Err(DecodeError::TableSizeUpdate);
                }
                self.table.set_max(max);
                continue;
            } else {
                // §6.2.2 Literal Header Field without Indexing (0000xxxx)
                // and §6.2.3 Never Indexed (0001xxxx): a 4-bit name index.
                // The difference matters only to intermediaries
                // re-encoding the field; we are an endpoint.
                let i = integer(block, &mut pos, 4)?;
                let name = if i == 0 {
                    string(block, &mut pos, &mut self.name)?
                } else {
                    entry(&self.table, i)?.0
                };
                let value = string(block, &mut pos, &mut self.value)?;
                field(name, value);
            }
            started = true;
        }
        Ok(())
    }

    /// The dynamic table, for the tests of its state.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }
}

/// Entry `i` of the static table then the dynamic one ([RFC 7541 §2.3.3]).
///
/// [RFC 7541 §2.3.3]: https://www.rfc-editor.org/rfc/rfc7541#section-2.3.3
fn entry(table: &DynamicTable, i: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    match i {
        // "The index value of 0 is not used. It MUST be treated as a
        // decoding error if found in an indexed header field
        // representation." (§6.1)
        0 => Err(DecodeError::BadIndex),
        1..=61 => Ok(STATIC[i - 1]),
        _ => table.get(i - 62).ok_or(DecodeError::BadIndex),
    }
}

/// Reads an integer with an `n`-bit prefix at `block[*pos]` ([RFC 7541
/// §5.1]), moving `pos` past it.
///
/// [RFC 7541 §5.1]: https://www.rfc-editor.org/rfc/rfc7541#section-5.1
pub(super) fn integer(block: &[u8], pos: &mut usize, n: u32) -> Result<usize, DecodeError> {
    let max_prefix = ((1u16 << n) - 1) as u8;
    let first = *block.get(*pos).ok_or(DecodeError::Truncated)?;
    *pos += 1;
    let mut value = u64::from(first & max_prefix);
    if value < u64::from(max_prefix) {
        return Ok(value as usize);
    }
    // Choice: at most five continuation bytes (35 bits, enough for any
    // u32), "Integer encodings that exceed implementation limits [...]
    // MUST be treated as decoding errors" (§5.1).
    for shift in [0, 7, 14, 21, 28] {
        let b = *block.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(value)
                .ok()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or(DecodeError::IntegerOverflow);
        }
    }
    Err(DecodeError::IntegerOverflow)
}

/// Reads a string literal at `block[*pos]` ([RFC 7541 §5.2]): raw, borrowed
/// from `block`, or Huffman-decoded into `scratch`.
///
/// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
fn string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let huffman = block.get(*pos).ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let raw = block
        .get(*pos..)
        .and_then(|rest| rest.get(..len))
        .ok_or(DecodeError::StringTooLong)?;
    *pos += len;
    if huffman {
        scratch.clear();
        huffman::decode(raw, scratch)?;
        Ok(scratch)
    } else {
        Ok(raw)
    }
}
