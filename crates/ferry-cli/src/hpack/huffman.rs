//! The Huffman code of HPACK string literals ([RFC 7541 §5.2], Appendix B):
//! decoding by table lookup, several bits at a time, and encoding.
//!
//! [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
use super::DecodeError;
use std::sync::OnceLock;

/// The code (right-aligned) and its length in bits for each symbol 0–255
/// and EOS (256): the table of [RFC 7541 Appendix B], four symbols a line.
///
/// [RFC 7541 Appendix B]: https://www.rfc-editor.org/rfc/rfc7541#appendix-B
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    (0x3fffffff, 30),
];

/// The end-of-string symbol: 30 one bits, never valid inside a string.
const EOS: u16 = 256;

/// The number of bits one lookup in [`Tables::fast`] decodes: every code
/// this short (all of printable ASCII but a few punctuation marks).
const PEEK: u32 = 12;

/// The longest code (EOS and a few control characters).
const MAX_LEN: usize = 30;

/// Decoding tables, built once from [`CODES`].
struct Tables {
    /// For each `PEEK`-bit window of input, the one or two codes it starts
    /// with (see [`Fast`]), or 0 when the first is longer than `PEEK` bits.
    fast: Vec<u32>,
    /// For codes longer than `PEEK` (which are consecutive numbers at each
    /// length, the code being canonical): the first code of each length,
    /// how many there are, and where they start in `by_code`.
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    start: [u16; MAX_LEN + 1],
    /// Symbols ordered by (length, code).
    by_code: Vec<u16>,
}

/// An entry of [`Tables::fast`]: the first symbol (bits 0–7), the second
/// (8–15), both codes' length (16–20), the first's (21–25), and how many
/// symbols (26–27).
struct Fast;

impl Fast {
    fn pack(sym: u32, sym2: u32, len: u32, total: u32, n: u32) -> u32 {
        sym | sym2 << 8 | total << 16 | len << 21 | n << 26
    }
    fn total(e: u32) -> u32 {
        e >> 16 & 0x1f
    }
    fn first_len(e: u32) -> u32 {
        e >> 21 & 0x1f
    }
    fn count(e: u32) -> usize {
        (e >> 26) as usize
    }
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // One code per window first, then a second code where it fits.
        let mut one = vec![(0u32, 0u32); 1 << PEEK];
        for (sym, &(code, len)) in CODES.iter().enumerate() {
            let len = u32::from(len);
            if len <= PEEK {
                let lo = (code << (PEEK - len)) as usize;
                one[lo..lo + (1 << (PEEK - len))].fill((sym as u32, len));
            }
        }
        let fast = (0..1 << PEEK)
            .map(|w: usize| {
                let (sym, len) = one[w];
                if len == 0 {
                    return 0;
                }
                let (sym2, len2) = one[(w << len) & ((1 << PEEK) - 1)];
                if len2 != 0 && len + len2 <= PEEK {
                    Fast::pack(sym, sym2, len, len + len2, 2)
                } else {
                    Fast::pack(sym, 0, len, len, 1)
                }
            })
            .collect();
        let mut by_code: Vec<u16> = (0..=EOS).collect();
        by_code.sort_by_key(|&s| (CODES[usize::from(s)].1, CODES[usize::from(s)].0));
        let (mut first, mut count, mut start) =
            ([0; MAX_LEN + 1], [0; MAX_LEN + 1], [0; MAX_LEN + 1]);
        for (i, &s) in by_code.iter().enumerate().rev() {
            let (code, len) = CODES[usize::from(s)];
            let len = usize::from(len);
            first[len] = code;
            count[len] += 1;
            start[len] = i as u16;
        }
        Tables {
            fast,
            first,
            count,
            start,
            by_code,
        }
    })
}

/// Decodes the Huffman-coded string `src`, appending it to `dst`.
///
/// # Errors
///
/// [`DecodeError::BadHuffman`] when the string contains EOS, or ends in
/// padding of more than 7 bits or not all ones ([RFC 7541 §5.2]).
///
/// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    let t = tables();
    // At most one symbol per 5 bits (the shortest code), and room for the
    // second byte a one-symbol entry writes anyway.
    let start = dst.len();
    dst.resize(start + src.len() * 8 / 5 + 2, 0);
    let out = &mut dst[start..];
    let mut o = 0;
    let mask = (1u64 << PEEK) - 1;
    // `acc`'s low `bits` bits are input not decoded yet; after a refill
    // there are at least 32 unless the input has run out.
    let (mut acc, mut bits, mut next) = (0u64, 0u32, 0usize);
    let result = loop {
        if bits < 32 {
            if let Some(chunk) = src.get(next..next + 8) {
                let word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
                let take = (63 - bits) / 8;
                acc = acc << (take * 8) | word >> (64 - take * 8);
                bits += take * 8;
                next += take as usize;
            } else {
                while bits <= 56 && next < src.len() {
                    acc = acc << 8 | u64::from(src[next]);
                    bits += 8;
                    next += 1;
                }
            }
        }
        if bits >= PEEK {
            let e = t.fast[((acc >> (bits - PEEK)) & mask) as usize];
            if e != 0 {
                out[o] = e as u8;
                out[o + 1] = (e >> 8) as u8;
                o += Fast::count(e);
                bits -= Fast::total(e);
                continue;
            }
            match long_code(t, acc, bits) {
                // "A Huffman-encoded string literal containing the EOS
                // symbol MUST be treated as a decoding error."
                Some((EOS, _)) => break Err(DecodeError::BadHuffman),
                Some((sym, len)) => {
                    out[o] = sym as u8;
                    o += 1;
                    bits -= len;
                    continue;
                }
                None => {}
            }
        } else if bits > 0 {
            // The last bits, padded with ones: a code of at most `bits`
            // bits is still found; a longer one means these are padding.
            let window = acc << (PEEK - bits) | ((1 << (PEEK - bits)) - 1);
            let e = t.fast[(window & mask) as usize];
            if e != 0 && Fast::first_len(e) <= bits {
                out[o] = e as u8;
                o += 1;
                bits -= Fast::first_len(e);
                continue;
            }
        }
        // "A padding strictly longer than 7 bits MUST be treated as a
        // decoding error. A padding not corresponding to the most
        // significant bits of the code for the EOS symbol MUST be treated
        // as a decoding error."
        let ones = (1u64 << bits) - 1;
        break if bits <= 7 && acc & ones == ones {
            Ok(())
        } else {
            Err(DecodeError::BadHuffman)
        };
    };
    dst.truncate(start + o);
    result
}

/// The symbol and length of the code longer than [`PEEK`] bits at the top
/// of `acc`'s low `bits` bits, or `None` when the input ends inside it.
fn long_code(t: &Tables, acc: u64, bits: u32) -> Option<(u16, u32)> {
    for len in PEEK + 1..=MAX_LEN as u32 {
        if len > bits {
            return None;
        }
        let code = ((acc >> (bits - len)) & ((1 << len) - 1)) as u32;
        let l = len as usize;
        let k = code.wrapping_sub(t.first[l]);
        if k < t.count[l] {
            return Some((t.by_code[usize::from(t.start[l]) + k as usize], len));
        }
    }
    None
}

/// The length in bytes of `src` Huffman-coded.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-coded to `dst`, padded with the most significant
/// bits of EOS (ones) to a whole byte ([RFC 7541 §5.2]).
///
/// [RFC 7541 §5.2]: https://www.rfc-editor.org/rfc/rfc7541#section-5.2
pub(crate) fn encode(src: &[u8], dst: &mut Vec<u8>) {
    let (mut acc, mut bits) = (0u64, 0u32);
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = acc << len | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        dst.push((acc << (8 - bits)) as u8 | (0xff >> bits));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference decoder: one bit at a time, matching each prefix
    /// against every code. Slow and obviously right.
    fn decode_bitwise(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let (mut out, mut code, mut len) = (Vec::new(), 0u32, 0u8);
        for i in 0..src.len() * 8 {
            code = code << 1 | u32::from(src[i / 8] >> (7 - i % 8) & 1);
            len += 1;
            if let Some(sym) = CODES.iter().position(|&c| c == (code, len)) {
                if sym == 256 {
                    return Err(DecodeError::BadHuffman);
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
        if len <= 7 && code == (1 << len) - 1 {
            Ok(out)
        } else {
            Err(DecodeError::BadHuffman)
        }
    }

    #[test]
    fn the_code_is_complete_and_canonical() {
        // Kraft's equality: a complete prefix code (every bit string either
        // starts with a code or is a prefix of one).
        let sum: u64 = CODES
            .iter()
            .map(|&(_, l)| 1u64 << (MAX_LEN - usize::from(l)))
            .sum();
        assert_eq!(sum, 1 << MAX_LEN);
        assert_eq!(CODES[256], (0x3fff_ffff, 30), "EOS");
        // Codes of one length are consecutive numbers (what `long_code` needs).
        let t = tables();
        for w in t.by_code.windows(2) {
            let (a, b) = (CODES[usize::from(w[0])], CODES[usize::from(w[1])]);
            if a.1 == b.1 {
                assert_eq!(a.0 + 1, b.0);
            }
        }
    }

    #[test]
    fn rfc7541_appendix_c_strings() {
        // RFC 7541 C.4.1–C.4.3 and C.6.1–C.6.3: the Huffman-coded literals.
        for (hex, text) in [
            ("f1e3c2e5f23a6ba0ab90f4ff", "www.example.com"),
            ("a8eb10649cbf", "no-cache"),
            ("25a849e95ba97d7f", "custom-key"),
            ("25a849e95bb8e8b4bf", "custom-value"),
            ("6402", "302"),
            ("aec3771a4b", "private"),
            ("d07abe941054d444a8200595040b8166e082a62d1bff", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("9d29ad171863c78f0b97c8e9ae82ae43d3", "https://www.example.com"),
            ("640eff", "307"),
            ("9bd9ab", "gzip"),
            (
                "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ] {
            let wire = super::super::tests::hex(hex);
            let mut out = Vec::new();
            decode(&wire, &mut out).unwrap();
            assert_eq!(out, text.as_bytes());
            let mut enc = Vec::new();
            encode(text.as_bytes(), &mut enc);
            assert_eq!(enc, wire, "{text}");
            assert_eq!(encoded_len(text.as_bytes()), wire.len());
        }
    }

    #[test]
    fn bad_padding_and_eos_are_errors() {
        for (wire, why) in [
            (&[0x00][..], "'0' then padding 000 (not ones)"),
            (&[0xff], "8 bits of padding"),
            (
                &[0x1f, 0xff],
                "'a' then 11 ones: more than 7 bits of padding",
            ),
            (&[0xff, 0xff, 0xff, 0xfc], "EOS (30 ones) then 00"),
            (&[0xff, 0xff, 0xff, 0xff], "EOS then 2 ones"),
        ] {
            assert_eq!(
                decode(wire, &mut Vec::new()),
                Err(DecodeError::BadHuffman),
                "{why}"
            );
            assert!(decode_bitwise(wire).is_err(), "{why}");
        }
        // '0' (00000) and 111 of padding; nothing at all.
        let mut out = Vec::new();
        decode(&[0x07], &mut out).unwrap();
        decode(&[], &mut out).unwrap();
        assert_eq!(out, b"0");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(s in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut wire = Vec::new();
            encode(&s, &mut wire);
            prop_assert_eq!(wire.len(), encoded_len(&s));
            let mut out = Vec::new();
            decode(&wire, &mut out).unwrap();
            prop_assert_eq!(out, s);
        }

        #[test]
        fn the_table_decoder_agrees_with_the_bitwise_one(
            wire in proptest::collection::vec(
                prop_oneof![Just(0xffu8), Just(0xfe), Just(0x3f), any::<u8>()], 0..40),
        ) {
            let mut out = Vec::new();
            let fast = decode(&wire, &mut out).map(|()| out);
            prop_assert_eq!(fast, decode_bitwise(&wire));
        }
    }
}
