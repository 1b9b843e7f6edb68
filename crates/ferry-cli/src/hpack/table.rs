//! The static table ([RFC 7541 §2.3.1], Appendix A) and the dynamic table
//! ([RFC 7541 §2.3.2], §4), shared by the decoder and the encoder (whose
//! copy mirrors the peer's).
//!
//! [RFC 7541 §2.3.1]: https://www.rfc-editor.org/rfc/rfc7541#section-2.3.1
//! [RFC 7541 §2.3.2]: https://www.rfc-editor.org/rfc/rfc7541#section-2.3.2
use std::collections::VecDeque;

/// The static table of [RFC 7541 Appendix A]: index 1 is `STATIC[0]`.
///
/// [RFC 7541 Appendix A]: https://www.rfc-editor.org/rfc/rfc7541#appendix-A
pub(crate) const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),                   // 1
    (b":method", b"GET"),                   // 2
    (b":method", b"POST"),                  // 3
    (b":path", b"/"),                       // 4
    (b":path", b"/index.html"),             // 5
    (b":scheme", b"http"),                  // 6
    (b":scheme", b"https"),                 // 7
    (b":status", b"200"),                   // 8
    (b":status", b"204"),                   // 9
    (b":status", b"206"),                   // 10
    (b":status", b"304"),                   // 11
    (b":status", b"400"),                   // 12
    (b":status", b"404"),                   // 13
    (b":status", b"500"),                   // 14
    (b"accept-charset", b""),               // 15
    (b"accept-encoding", b"gzip, deflate"), // 16
    (b"accept-language", b""),              // 17
    (b"accept-ranges", b""),                // 18
    (b"accept", b""),                       // 19
    (b"access-control-allow-origin", b""),  // 20
    (b"age", b""),                          // 21
    (b"allow", b""),                        // 22
    (b"authorization", b""),                // 23
    (b"cache-control", b""),                // 24
    (b"content-disposition", b""),          // 25
    (b"content-encoding", b""),             // 26
    (b"content-language", b""),             // 27
    (b"content-length", b""),               // 28
    (b"content-location", b""),             // 29
    (b"content-range", b""),                // 30
    (b"content-type", b""),                 // 31
    (b"cookie", b""),                       // 32
    (b"date", b""),                         // 33
    (b"etag", b""),                         // 34
    (b"expect", b""),                       // 35
    (b"expires", b""),                      // 36
    (b"from", b""),                         // 37
    (b"host", b""),                         // 38
    (b"if-match", b""),                     // 39
    (b"if-modified-since", b""),            // 40
    (b"if-none-match", b""),                // 41
    (b"if-range", b""),                     // 42
    (b"if-unmodified-since", b""),          // 43
    (b"last-modified", b""),                // 44
    (b"link", b""),                         // 45
    (b"location", b""),                     // 46
    (b"max-forwards", b""),                 // 47
    (b"proxy-authenticate", b""),           // 48
    (b"proxy-authorization", b""),          // 49
    (b"range", b""),                        // 50
    (b"referer", b""),                      // 51
    (b"refresh", b""),                      // 52
    (b"retry-after", b""),                  // 53
    (b"server", b""),                       // 54
    (b"set-cookie", b""),                   // 55
    (b"strict-transport-security", b""),    // 56
    (b"transfer-encoding", b""),            // 57
    (b"user-agent", b""),                   // 58
    (b"vary", b""),                         // 59
    (b"via", b""),                          // 60
    (b"www-authenticate", b""),             // 61
];

/// The index of the first static-table entry named `name` (lowercase).
pub(crate) fn static_name(name: &[u8]) -> Option<usize> {
    Some(match name {
        b":authority" => 1,
        b":method" => 2,
        b":path" => 4,
        b":scheme" => 6,
        b":status" => 8,
        b"accept-charset" => 15,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    })
}

/// The overhead counted for each dynamic-table entry besides its name and
/// value: "The size of an entry is the sum of its name's length in octets
/// [...], its value's length in octets, and 32" ([RFC 7541 §4.1]).
///
/// [RFC 7541 §4.1]: https://www.rfc-editor.org/rfc/rfc7541#section-4.1
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// A dynamic table: newest entry first (index 62 on the wire), evicting
/// the oldest to stay within its maximum size ([RFC 7541 §4.4]).
///
/// [RFC 7541 §4.4]: https://www.rfc-editor.org/rfc/rfc7541#section-4.4
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max: usize,
    /// Changes so far: insertions (emptying ones included) and size
    /// changes (see [`Self::state`]).
    generation: u64,
}

/// One entry: name and value in one allocation.
#[derive(Debug)]
struct Entry {
    buf: Box<[u8]>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.buf[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.buf[self.name_len..]
    }
}

impl DynamicTable {
    /// An empty table of maximum size `max`.
    pub(crate) fn new(max: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max,
            generation: 0,
        }
    }

    /// The sum of the entries' sizes ([RFC 7541 §4.1]).
    ///
    /// [RFC 7541 §4.1]: https://www.rfc-editor.org/rfc/rfc7541#section-4.1
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The maximum size.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entry `i`, 0 being the newest, as (name, value).
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|e| (e.name(), e.value()))
    }

    /// Changes the maximum size, evicting the oldest entries until the
    /// table fits ([RFC 7541 §4.3]).
    ///
    /// [RFC 7541 §4.3]: https://www.rfc-editor.org/rfc/rfc7541#section-4.3
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
        // Even back to the same maximum: entries may have been evicted on
        // the way (0, then 4096).
        self.generation += 1;
    }

    /// Adds `buf` (a name of `name_len` bytes, then the value) as the newest
    /// entry, evicting older ones to make room ([RFC 7541 §4.4]).
    ///
    /// [RFC 7541 §4.4]: https://www.rfc-editor.org/rfc/rfc7541#section-4.4
    pub(crate) fn insert(&mut self, buf: Box<[u8]>, name_len: usize) {
        let size = buf.len() + ENTRY_OVERHEAD;
        if size > self.max {
            // "an attempt to add an entry larger than the maximum size
            // causes the table to be emptied of all existing entries and
            // results in an empty table."
            self.entries.clear();
            self.size = 0;
            self.generation += 1;
            return;
        }
        self.evict_to(self.max - size);
        self.entries.push_front(Entry { buf, name_len });
        self.size += size;
        self.generation += 1;
    }

    /// What an encoding that refers to the table depends on: a count of
    /// the table's changes (every insertion and every size change) and the
    /// maximum size. While it is unchanged, no entry was added, evicted or
    /// re-indexed.
    pub(crate) fn state(&self) -> (u64, usize) {
        (self.generation, self.max)
    }

    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            let e = self
                .entries
                .pop_back()
                .expect("a non-zero size has entries");
            self.size -= e.buf.len() + ENTRY_OVERHEAD;
        }
    }

    /// The index (0 newest) of an entry equal to (`name`, `value`), else
    /// of one named `name`, as (exact, name only); a linear scan.
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut named = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.name() == name {
                if e.value() == value {
                    return (Some(i), Some(i));
                }
                named.get_or_insert(i);
            }
        }
        (None, named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_names_index_the_first_entry() {
        for (i, (name, _)) in STATIC.iter().enumerate() {
            let first = STATIC.iter().position(|(n, _)| n == name).unwrap() + 1;
            assert_eq!(static_name(name), Some(first), "{i}");
        }
        assert_eq!(static_name(b":status"), Some(8));
        assert_eq!(static_name(b"x-frame-options"), None);
    }

    #[test]
    fn eviction_rfc7541_4_4() {
        let mut t = DynamicTable::new(100);
        let entry = |n: &str, v: &str| {
            (
                [n.as_bytes(), v.as_bytes()].concat().into_boxed_slice(),
                n.len(),
            )
        };
        let (b, n) = entry("aaaa", "bbbb"); // 40
        t.insert(b, n);
        let (b, n) = entry("cccc", "dddd"); // 40
        t.insert(b, n);
        assert_eq!((t.len(), t.size()), (2, 80));
        let (b, n) = entry("eeee", "ffff"); // evicts aaaa
        t.insert(b, n);
        assert_eq!((t.len(), t.size()), (2, 80));
        assert_eq!(t.get(0), Some((&b"eeee"[..], &b"ffff"[..])));
        assert_eq!(t.get(1), Some((&b"cccc"[..], &b"dddd"[..])));
        assert_eq!(t.find(b"cccc", b"x"), (None, Some(1)));
        // Every insertion, evicting or not, changes the state; so does a
        // size change, even back to the same size.
        assert_eq!(t.state(), (3, 100));
        let before = t.state();
        t.set_max(100);
        assert_ne!(t.state(), before);
        t.set_max(50);
        assert_eq!((t.len(), t.size()), (1, 40));
        // Larger than the table: empties it.
        let (b, n) = entry("a-name-long-enough", "and-a-value");
        t.insert(b, n);
        assert_eq!((t.len(), t.size()), (0, 0));
        assert_eq!(t.state(), (6, 50));
    }
}
