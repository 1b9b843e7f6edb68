//! Encoding response header blocks ([RFC 7541 §6]).
//!
//! [RFC 7541 §6]: https://www.rfc-editor.org/rfc/rfc7541#section-6
use super::huffman;
use super::table::{static_name, DynamicTable, ENTRY_OVERHEAD};
use http::header::{HeaderName, HeaderValue};

/// The peer's SETTINGS_HEADER_TABLE_SIZE until it says otherwise, and the
/// most this encoder uses even if the peer allows more ([RFC 9113 §6.5.2]).
///
/// [RFC 9113 §6.5.2]: https://www.rfc-editor.org/rfc/rfc9113#section-6.5.2
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4096;

/// Whether the encoder adds a field named `name` to the dynamic table
/// ([RFC 7541 §6.2.1]): every field but `set-cookie` (§7.1.3). Within a
/// second every response on a connection repeats `date`, and repeated
/// requests for one file repeat its `etag`, `last-modified` and
/// `content-length`; indexed, each costs the peer one byte and no copy (a
/// repeated 304 was 5 bytes of header block, not 61). A field that never
/// repeats costs as many bytes inserted as sent without indexing; it only
/// pushes the oldest entries out, to be inserted again when next sent.
///
/// [RFC 7541 §6.2.1]: https://www.rfc-editor.org/rfc/rfc7541#section-6.2.1
pub(crate) fn indexed(name: &[u8]) -> bool {
    name != b"set-cookie"
}

/// RFC 7541 encoder for response headers, one per connection: a copy of
/// the peer decoder's dynamic table, kept in step by encoding each block in
/// the order it is sent.
#[derive(Debug)]
pub(crate) struct Encoder {
    table: DynamicTable,
    /// A lowered (or raised) table size to announce at the start of the
    /// next block: the smallest since the last block, and the latest.
    pending: Option<(usize, usize)>,
    /// The position of the next field in the current block.
    at: usize,
    /// By position in the block: the field the previous block had there
    /// and its encoding, replayed when the next block repeats it (responses
    /// send the same fields in the same order) while the dynamic table is
    /// as it was.
    replay: Vec<Replay>,
}

/// Positions in a block that keep a [`Replay`].
const REPLAYED: usize = 64;

/// A field as it was encoded, and the table state its encoding holds for.
#[derive(Debug, Default)]
struct Replay {
    name: Vec<u8>,
    value: Vec<u8>,
    code: Vec<u8>,
    table: (u64, usize),
    /// The field itself when it came as a [`HeaderName`] and
    /// [`HeaderValue`] ([`Encoder::header`]). Held, their bytes cannot be
    /// freed and reused, so a field at the same addresses is the same field.
    held: Option<(HeaderName, HeaderValue)>,
}

impl Encoder {
    /// An encoder for a peer that has not (yet) sent
    /// SETTINGS_HEADER_TABLE_SIZE: 4096 bytes.
    pub(crate) fn new() -> Encoder {
        Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            pending: None,
            at: 0,
            replay: Vec::new(),
        }
    }

    /// Takes the peer's SETTINGS_HEADER_TABLE_SIZE `n` into account: from
    /// the next block on, the table is at most `min(n, 4096)` bytes, and
    /// that block starts with a dynamic table size update ([RFC 7541 §4.2],
    /// §6.3). Call between blocks, never in the middle of one.
    ///
    /// [RFC 7541 §4.2]: https://www.rfc-editor.org/rfc/rfc7541#section-4.2
    pub(crate) fn set_max_table_size(&mut self, n: usize) {
        // Choice: never more than 4096 bytes of table per connection.
        let n = n.min(DEFAULT_TABLE_SIZE);
        match &mut self.pending {
            // "If the maximum size is changed multiple times between two
            // header blocks, the smallest maximum table size that occurs in
            // that interval MUST be signaled in a dynamic table size
            // update. The final maximum size is always signaled" (§4.2).
            Some((smallest, last)) => (*smallest, *last) = (n.min(*smallest), n),
            None if n != self.table.max() => self.pending = Some((n, n)),
            None => {}
        }
    }

    /// Appends `:status` ([RFC 9113 §8.3.2]): the static table's indexed
    /// field for 200, 204, 206, 304, 400, 404 and 500, else a literal
    /// without indexing with the static name `:status` ([RFC 7541 §6.1],
    /// §6.2.2).
    ///
    /// [RFC 9113 §8.3.2]: https://www.rfc-editor.org/rfc/rfc9113#section-8.3.2
    /// [RFC 7541 §6.1]: https://www.rfc-editor.org/rfc/rfc7541#section-6.1
    pub(crate) fn status(&mut self, status: u16, dst: &mut Vec<u8>) {
        self.start(dst);
        self.at = 0;
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => {
                integer(dst, 0x00, 4, 8);
                let mut digits = [0u8; 5];
                let mut n = status;
                let mut i = digits.len();
                loop {
                    i -= 1;
                    digits[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                string(dst, &digits[i..], false);
                return;
            }
        };
        integer(dst, 0x80, 7, index);
    }

    /// Appends one field; `name` is lowercase already. Fields
    /// [`indexed`] are sent as an index into the dynamic table when an
    /// earlier response added them, else added to it ([RFC 7541 §6.2.1]);
    /// `set-cookie` is never indexed (§6.2.3, §7.1.3); a field larger than
    /// the table is a literal without indexing (§6.2.2). The name is the
    /// static table's index where it has one.
    ///
    /// [RFC 7541 §6.2.1]: https://www.rfc-editor.org/rfc/rfc7541#section-6.2.1
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
        self.field_held(name, value, None, dst);
    }

    /// [`Encoder::field`] for a response's own field: the same bytes, and
    /// when the previous block had this very name and value at this place
    /// (the same `Date`, the same file's `ETag` and `Content-Type`, shared
    /// from one response to the next), its encoding is replayed without
    /// comparing a byte.
    pub(crate) fn header(&mut self, name: &HeaderName, value: &HeaderValue, dst: &mut Vec<u8>) {
        self.start(dst);
        if let Some(r) = self.replay.get(self.at) {
            if let Some((n, v)) = &r.held {
                if r.table == self.table.state()
                    && same(n.as_str(), name.as_str())
                    && same(v.as_bytes(), value.as_bytes())
                {
                    self.at += 1;
                    dst.extend_from_slice(&r.code);
                    return;
                }
            }
        }
        let held = Some((name, value));
        self.field_held(name.as_str().as_bytes(), value.as_bytes(), held, dst);
    }

    fn field_held(
        &mut self,
        name: &[u8],
        value: &[u8],
        held: Option<(&HeaderName, &HeaderValue)>,
        dst: &mut Vec<u8>,
    ) {
        self.start(dst);
        let at = self.at;
        self.at += 1;
        let table = self.table.state();
        if let Some(r) = self.replay.get_mut(at) {
            if r.table == table && r.name == name && r.value == value {
                dst.extend_from_slice(&r.code);
                // Held from now on: the next block's same field is
                // recognised by its address.
                r.held = held.map(|(n, v)| (n.clone(), v.clone()));
                return;
            }
        }
        let from = dst.len();
        self.encode(name, value, dst);
        // An encoding that added to the table is never replayed: the peer
        // would add the entry a second time.
        if at < REPLAYED && self.table.state() == table {
            if at >= self.replay.len() {
                self.replay.resize_with(at + 1, Replay::default);
            }
            let r = &mut self.replay[at];
            r.table = table;
            r.held = held.map(|(n, v)| (n.clone(), v.clone()));
            for (to, from) in [
                (&mut r.name, name),
                (&mut r.value, value),
                (&mut r.code, &dst[from..]),
            ] {
                to.clear();
                to.extend_from_slice(from);
            }
        }
    }

    fn encode(&mut self, name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
        let static_index = static_name(name);
        if indexed(name) {
            let (exact, named) = self.table.find(name, value);
            if let Some(i) = exact {
                integer(dst, 0x80, 7, 62 + i);
                return;
            }
            let size = name.len() + value.len() + ENTRY_OVERHEAD;
            if size <= self.table.max() {
                match static_index.or(named.map(|i| 62 + i)) {
                    Some(i) => integer(dst, 0x40, 6, i),
                    None => {
                        dst.push(0x40);
                        string(dst, name, true);
                    }
                }
                string(dst, value, true);
                let mut buf = Vec::with_capacity(name.len() + value.len());
                buf.extend_from_slice(name);
                buf.extend_from_slice(value);
                self.table.insert(buf.into_boxed_slice(), name.len());
                return;
            }
        }
        // §7.1.3: "An encoder might also choose not to index values for
        // header fields that are considered to be highly valuable or
        // sensitive to recovery", and never-indexed keeps intermediaries
        // from indexing them either.
        let flags = if name == b"set-cookie" { 0x10 } else { 0x00 };
        integer(dst, flags, 4, static_index.unwrap_or(0));
        if static_index.is_none() {
            string(dst, name, false);
        }
        string(dst, value, false);
    }

    /// Starts a block with the pending dynamic table size update, if any
    /// ([RFC 7541 §6.3]).
    ///
    /// [RFC 7541 §6.3]: https://www.rfc-editor.org/rfc/rfc7541#section-6.3
    fn start(&mut self, dst: &mut Vec<u8>) {
        if let Some((smallest, last)) = self.pending.take() {
            if smallest < last {
                integer(dst, 0x20, 5, smallest);
                self.table.set_max(smallest);
            }
            integer(dst, 0x20, 5, last);
            self.table.set_max(last);
        }
    }

    /// The dynamic table, for the tests of its state.
    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }
}

/// Whether `a` and `b` are the same bytes in memory, not only equal ones.
fn same<T: AsRef<[u8]> + ?Sized>(a: &T, b: &T) -> bool {
    let (a, b) = (a.as_ref(), b.as_ref());
    a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())
}

/// Appends `value` as an integer with an `n`-bit prefix, the byte's other
/// bits being `flags` ([RFC 7541 §5.1]).
///
/// [RFC 7541 §5.1]: https://www.rfc-editor.org/rfc/rfc7541#section-5.1
pub(super) fn integer(dst: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max_prefix = (1usize << n) - 1;
    if value < max_prefix {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 128 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// Appends a string literal ([RFC 7541 §5.2]), Huffman-coded if
/// `huffman` and that is shorter.
///
/// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
fn string(dst: &mut Vec<u8>, s: &[u8], huffman: bool) {
    // Choice: Huffman only for what is inserted, sent in full once.
    if huffman {
        let len = huffman::encoded_len(s);
        if len < s.len() {
            integer(dst, 0x80, 7, len);
            huffman::encode(s, dst);
            return;
        }
    }
    integer(dst, 0x00, 7, s.len());
    dst.extend_from_slice(s);
}
