//! RFC 7541 Appendix C, the error cases, and round trips through the
//! encoder.
use super::decoder::integer as read_integer;
use super::encoder::integer as write_integer;
use super::table::DynamicTable;
use super::{DecodeError, Decoder, Encoder};
use proptest::prelude::*;

/// Bytes from hex digits, spaces ignored (the RFC's hex dumps).
pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
        .collect()
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Fields, DecodeError> {
    let mut out = Vec::new();
    d.decode(block, |n, v| out.push((n.to_vec(), v.to_vec())))?;
    Ok(out)
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn entries(t: &DynamicTable) -> Vec<(String, String)> {
    (0..t.len())
        .map(|i| {
            let (n, v) = t.get(i).unwrap();
            (
                String::from_utf8_lossy(n).into(),
                String::from_utf8_lossy(v).into(),
            )
        })
        .collect()
}

#[test]
fn integers_rfc7541_c_1() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix;
    // C.1.3: 42 starting at an octet boundary (8-bit prefix).
    for (n, value, wire) in [
        (5, 10, &[0x0a][..]),
        (5, 1337, &[0x1f, 0x9a, 0x0a]),
        (8, 42, &[0x2a]),
    ] {
        let mut out = Vec::new();
        write_integer(&mut out, 0, n, value);
        assert_eq!(out, wire, "{value}");
        let mut pos = 0;
        assert_eq!(read_integer(wire, &mut pos, n), Ok(value));
        assert_eq!(pos, wire.len());
    }
    // The bits above the prefix are not part of the integer.
    assert_eq!(read_integer(&[0xea], &mut 0, 5), Ok(10));
    // The largest accepted, and one more.
    let mut max = Vec::new();
    write_integer(&mut max, 0, 5, u32::MAX as usize);
    assert_eq!(read_integer(&max, &mut 0, 5), Ok(u32::MAX as usize));
    let mut over = Vec::new();
    write_integer(&mut over, 0, 5, u32::MAX as usize + 1);
    assert_eq!(
        read_integer(&over, &mut 0, 5),
        Err(DecodeError::IntegerOverflow)
    );
}

#[test]
fn header_fields_rfc7541_c_2() {
    // C.2.1 Literal Header Field with Indexing: custom-key: custom-header,
    // table size 55 after.
    let mut d = Decoder::new(4096);
    let got = decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    );
    assert_eq!(got, Ok(fields(&[("custom-key", "custom-header")])));
    assert_eq!(d.table().size(), 55);
    // C.2.2 Literal Header Field without Indexing: :path: /sample/path,
    // table empty after.
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert_eq!(got, Ok(fields(&[(":path", "/sample/path")])));
    assert_eq!(d.table().len(), 0);
    // C.2.3 Literal Header Field Never-Indexed: password: secret.
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    assert_eq!(got, Ok(fields(&[("password", "secret")])));
    assert_eq!(d.table().len(), 0);
    // C.2.4 Indexed Header Field: :method: GET.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex("82")),
        Ok(fields(&[(":method", "GET")]))
    );
    assert_eq!(d.table().len(), 0);
}

/// One block of a sequence on one connection: the wire, the fields, and
/// the dynamic table after it (newest first) with its size.
struct Step {
    rfc: &'static str,
    wire: &'static str,
    fields: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

fn run(max: usize, steps: &[Step]) {
    let mut d = Decoder::new(max);
    for s in steps {
        assert_eq!(
            decode(&mut d, &hex(s.wire)),
            Ok(fields(s.fields)),
            "{}",
            s.rfc
        );
        let want: Vec<(String, String)> = s
            .table
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(entries(d.table()), want, "{}", s.rfc);
        assert_eq!(d.table().size(), s.size, "{}", s.rfc);
    }
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn requests_without_huffman_rfc7541_c_3() {
    run(
        4096,
        &[
            Step {
                rfc: "C.3.1",
                wire: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                fields: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                rfc: "C.3.2",
                wire: "8286 84be 5808 6e6f 2d63 6163 6865",
                fields: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                rfc: "C.3.3",
                wire: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                fields: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
    );
}

#[test]
fn requests_with_huffman_rfc7541_c_4() {
    run(
        4096,
        &[
            Step {
                rfc: "C.4.1",
                wire: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                fields: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                rfc: "C.4.2",
                wire: "8286 84be 5886 a8eb 1064 9cbf",
                fields: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                rfc: "C.4.3",
                wire: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                fields: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
    );
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RES1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", DATE1),
    ("location", LOC),
];
const RES2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", DATE1),
    ("location", LOC),
];
const RES3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", DATE2),
    ("location", LOC),
    ("content-encoding", "gzip"),
    ("set-cookie", COOKIE),
];
const RES_T1: &[(&str, &str)] = &[
    ("location", LOC),
    ("date", DATE1),
    ("cache-control", "private"),
    (":status", "302"),
];
const RES_T2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", LOC),
    ("date", DATE1),
    ("cache-control", "private"),
];
const RES_T3: &[(&str, &str)] = &[
    ("set-cookie", COOKIE),
    ("content-encoding", "gzip"),
    ("date", DATE2),
];

#[test]
fn responses_without_huffman_rfc7541_c_5() {
    // "SETTINGS_HEADER_TABLE_SIZE is set to the value of 256 octets,
    // causing some evictions to occur."
    run(
        256,
        &[
            Step {
                rfc: "C.5.1",
                wire:
                    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                   6c65 2e63 6f6d",
                fields: RES1,
                table: RES_T1,
                size: 222,
            },
            Step {
                rfc: "C.5.2",
                wire: "4803 3330 37c1 c0bf",
                fields: RES2,
                table: RES_T2,
                size: 222,
            },
            Step {
                rfc: "C.5.3",
                wire:
                    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                   3d31",
                fields: RES3,
                table: RES_T3,
                size: 215,
            },
        ],
    );
}

#[test]
fn responses_with_huffman_rfc7541_c_6() {
    run(
        256,
        &[
            Step {
                rfc: "C.6.1",
                wire:
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                fields: RES1,
                table: RES_T1,
                size: 222,
            },
            Step {
                rfc: "C.6.2",
                wire: "4883 640e ffc1 c0bf",
                fields: RES2,
                table: RES_T2,
                size: 222,
            },
            Step {
                rfc: "C.6.3",
                wire:
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                   9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                fields: RES3,
                table: RES_T3,
                size: 215,
            },
        ],
    );
}

#[test]
fn malformed_blocks_are_errors() {
    use DecodeError::*;
    for (wire, want, why) in [
        (
            "ff",
            Truncated,
            "an index whose prefix is full, then nothing",
        ),
        (
            "ff80",
            Truncated,
            "an index ending inside its continuation bytes",
        ),
        (
            "ff80 8080 8080 00",
            IntegerOverflow,
            "six continuation bytes",
        ),
        ("ffff ffff ff7f", IntegerOverflow, "an index above u32::MAX"),
        ("80", BadIndex, "index 0 (§6.1)"),
        ("be", BadIndex, "index 62 with an empty dynamic table"),
        ("40", Truncated, "a literal with no name"),
        ("4000", Truncated, "a literal name and no value"),
        ("0003 6162", StringTooLong, "a name longer than the block"),
        (
            "0f2f",
            BadIndex,
            "a literal with name index 62, an empty table",
        ),
        (
            "0081 00",
            BadHuffman,
            "a Huffman name: '0' padded with 000 (§5.2)",
        ),
        (
            "0081 ff00",
            BadHuffman,
            "a Huffman name of 8 bits of padding (§5.2)",
        ),
        (
            "0084 ffff fffc 00",
            BadHuffman,
            "a Huffman name holding EOS (§5.2)",
        ),
        (
            "3fe2 1f",
            TableSizeUpdate,
            "a size update to 4097 (> 4096, §6.3)",
        ),
        (
            "82 20",
            TableSizeUpdate,
            "a size update after a field (§4.2)",
        ),
        ("3f", Truncated, "a size update cut"),
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(decode(&mut d, &hex(wire)), Err(want), "{why}");
    }
    // A size update to exactly the limit, two in a row, then a field: fine.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex("20 3fe1 1f 82")),
        Ok(fields(&[(":method", "GET")]))
    );
    // Updates are allowed at the start of any block, not only the first.
    assert_eq!(
        decode(&mut d, &hex("20 82")),
        Ok(fields(&[(":method", "GET")]))
    );
    // An empty block is a valid (empty) list.
    assert_eq!(decode(&mut d, &[]), Ok(vec![]));
}

#[test]
fn a_size_update_evicts_and_bounds_later_entries() {
    let mut d = Decoder::new(4096);
    decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .unwrap();
    assert_eq!(d.table().size(), 55);
    // Size 0 empties the table; then index 62 is gone.
    assert_eq!(decode(&mut d, &hex("20 be")), Err(DecodeError::BadIndex));
}

#[test]
fn the_encoder_status_rows() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for (status, wire) in [
        (200, &[0x88][..]),
        (204, &[0x89]),
        (206, &[0x8a]),
        (304, &[0x8b]),
        (400, &[0x8c]),
        (404, &[0x8d]),
        (500, &[0x8e]),
        // Literal without indexing, indexed name 8 (§6.2.2).
        (416, b"\x08\x03416"),
        (302, b"\x08\x03302"),
    ] {
        let mut out = Vec::new();
        e.status(status, &mut out);
        assert_eq!(out, wire, "{status}");
        let want = vec![(b":status".to_vec(), status.to_string().into_bytes())];
        assert_eq!(decode(&mut d, &out), Ok(want));
    }
}

#[test]
fn the_encoder_indexes_every_field_but_set_cookie() {
    let mut e = Encoder::new();
    let response = |e: &mut Encoder, date: &str| {
        let mut out = Vec::new();
        e.status(200, &mut out);
        for (n, v) in [
            ("server", "ferry"),
            ("content-type", "text/html; charset=utf-8"),
            ("date", date),
            ("etag", "\"1-2\""),
            ("content-length", "1234"),
            ("set-cookie", "a=b"),
            ("x-frame-options", "DENY"),
        ] {
            e.field(n.as_bytes(), v.as_bytes(), &mut out);
        }
        out
    };
    let first = response(&mut e, DATE1);
    assert_eq!(entries(e.table()).len(), 6, "all but set-cookie");
    let second = response(&mut e, DATE2);
    assert_eq!(entries(e.table()).len(), 7, "and the new date");
    let third = response(&mut e, DATE2);
    // Newest first: date 2 (62), x-frame-options, content-length, etag,
    // date 1, content-type, server (68). Each field is one byte (§6.1)
    // but set-cookie, never indexed (§6.2.3): 0001, name index 55 - 15,
    // then its value.
    let mut want = vec![0x88, 0xc4, 0xc3, 0xbe, 0xc1, 0xc0, 0x1f, 55 - 15, 3];
    want.extend_from_slice(b"a=b");
    want.push(0xbf);
    assert_eq!(third, want, "{third:02x?}");
    assert!(second.len() < first.len());
    let mut d = Decoder::new(4096);
    for block in [&first, &second, &third] {
        let got = decode(&mut d, block).unwrap();
        assert_eq!(got.len(), 8);
        assert_eq!(got[6], (b"set-cookie".to_vec(), b"a=b".to_vec()));
    }
    assert_eq!(entries(d.table()), entries(e.table()));
}

#[test]
fn repeated_blocks_replay_only_while_the_table_stands_still() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let block = |e: &mut Encoder, ctype: &str, date: &str| {
        let mut out = Vec::new();
        e.status(200, &mut out);
        for (n, v) in [
            ("date", date),
            ("content-type", ctype),
            ("x-custom", "1"),
            ("cache-control", "no-cache"),
        ] {
            e.field(n.as_bytes(), v.as_bytes(), &mut out);
        }
        out
    };
    let want = |ctype: &str, date: &str| {
        fields(&[
            (":status", "200"),
            ("date", date),
            ("content-type", ctype),
            ("x-custom", "1"),
            ("cache-control", "no-cache"),
        ])
    };
    let steps: [(Option<usize>, &str, &str); 7] = [
        (None, "text/html", DATE1),
        (None, "text/html", DATE1),
        (None, "text/html", DATE2),
        // A new value is inserted: every index after it moves.
        (None, "text/css", DATE2),
        (None, "text/html", DATE2),
        // A smaller table evicts; a larger one is announced.
        (Some(64), "text/html", DATE2),
        (Some(4096), "text/html", DATE2),
    ];
    let mut blocks = Vec::new();
    for (size, ctype, date) in steps {
        if let Some(n) = size {
            e.set_max_table_size(n);
        }
        let b = block(&mut e, ctype, date);
        assert_eq!(decode(&mut d, &b).unwrap(), want(ctype, date), "{b:02x?}");
        blocks.push(b);
    }
    // Lowered to 0 and raised back between two blocks that insert
    // nothing: the table was emptied on the way, and a replayed index would
    // name an entry the peer no longer has (RFC 7541 §4.2).
    for _ in 0..2 {
        let b = block(&mut e, "text/html", DATE2);
        assert_eq!(decode(&mut d, &b).unwrap(), want("text/html", DATE2));
    }
    e.set_max_table_size(0);
    e.set_max_table_size(4096);
    let b = block(&mut e, "text/html", DATE2);
    assert_eq!(
        decode(&mut d, &b).unwrap(),
        want("text/html", DATE2),
        "{b:02x?}"
    );
    // The second block is the first's indexed fields by index: replayed
    // or not, the same bytes as an encoder without a past would make.
    assert_eq!(blocks[1].len(), blocks[4].len());
    assert!(blocks[1].len() < blocks[0].len());
}

/// Names responses carry, every one indexed (module docs).
const RESPONSE_NAMES: [&[u8]; 9] = [
    b"server",
    b"content-type",
    b"date",
    b"etag",
    b"last-modified",
    b"content-length",
    b"cache-control",
    b"vary",
    b"x-content-type-options",
];

#[test]
fn every_name_is_indexed_but_set_cookie() {
    for name in RESPONSE_NAMES {
        assert!(super::encoder::indexed(name));
    }
    assert!(!super::encoder::indexed(b"set-cookie"));
}

#[test]
fn the_encoder_announces_a_lowered_table_size() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut out = Vec::new();
    e.field(b"server", b"ferry", &mut out);
    decode(&mut d, &out).unwrap();
    // Lowered twice then raised: the smallest, then the last (§4.2).
    e.set_max_table_size(100);
    e.set_max_table_size(0);
    e.set_max_table_size(64);
    let mut out = Vec::new();
    e.field(b"server", b"ferry", &mut out);
    assert_eq!(&out[..2], &[0x20, 0x3f], "{out:02x?}");
    assert_eq!(decode(&mut d, &out), Ok(fields(&[("server", "ferry")])));
    assert_eq!(d.table().max(), 64);
    assert_eq!(entries(d.table()), entries(e.table()));
    // No change, no update.
    e.set_max_table_size(64);
    let mut out = Vec::new();
    e.field(b"server", b"ferry", &mut out);
    assert_eq!(out, [0xbe]);
    // Larger than 4096 is used as 4096.
    e.set_max_table_size(1 << 20);
    let mut out = Vec::new();
    e.status(200, &mut out);
    assert_eq!(out, [0x3f, 0xe1, 0x1f, 0x88]);
    assert_eq!(decode(&mut d, &out), Ok(fields(&[(":status", "200")])));
}

/// Names: ones responses carry, `set-cookie` and `location`, and lowercase
/// tokens (as HTTP/2 requires, RFC 9113 §8.2.1).
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(&RESPONSE_NAMES[..]).prop_map(<[u8]>::to_vec),
        prop::sample::select(OTHER_NAMES).prop_map(<[u8]>::to_vec),
        "[a-z0-9-]{1,20}".prop_map(String::into_bytes),
    ]
}

const OTHER_NAMES: &[&[u8]] = &[b"set-cookie", b"location"];
const VALUES: &[&[u8]] = &[b"ferry", b"text/html", b"bytes", b""];

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(VALUES).prop_map(<[u8]>::to_vec),
        proptest::collection::vec(any::<u8>(), 0..60),
        proptest::collection::vec(any::<u8>(), 1000..1500),
    ]
}

proptest! {
    #[test]
    fn encoded_blocks_decode_to_their_fields(
        blocks in proptest::collection::vec(
            (
                proptest::option::of(prop_oneof![Just(0usize), 0..5000usize]),
                proptest::option::of(any::<u16>()),
                proptest::collection::vec((name(), value()), 0..12),
            ),
            1..6,
        ),
    ) {
        let (mut e, mut d) = (Encoder::new(), Decoder::new(4096));
        for (table_size, status, list) in blocks {
            if let Some(n) = table_size {
                e.set_max_table_size(n);
            }
            let mut out = Vec::new();
            let mut want = Vec::new();
            if let Some(s) = status {
                e.status(s, &mut out);
                want.push((b":status".to_vec(), s.to_string().into_bytes()));
            }
            for (n, v) in &list {
                e.field(n, v, &mut out);
            }
            want.extend(list);
            prop_assert_eq!(decode(&mut d, &out), Ok(want));
            prop_assert_eq!(entries(d.table()), entries(e.table()));
        }
    }

    #[test]
    fn arbitrary_blocks_never_panic(
        blocks in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![Just(0x40u8), Just(0x20), Just(0x3f), Just(0xff), Just(0x80), Just(0xbe), any::<u8>()],
            0..64,
        ), 1..4),
    ) {
        let mut d = Decoder::new(4096);
        for b in &blocks {
            if let Ok(list) = decode(&mut d, b) {
                prop_assert!(d.table().size() <= 4096);
                prop_assert!(list.len() <= b.len());
            }
        }
    }
}

/// Fields a response holds as `HeaderName` and `HeaderValue`: some share
/// their bytes' addresses from one block to the next (the same `Date`, the
/// same file's `ETag`), some are equal bytes at other addresses, some
/// differ.
fn held_pool() -> Vec<(http::HeaderName, http::HeaderValue)> {
    use http::header::{self, HeaderName, HeaderValue};
    let v = |s: &str| HeaderValue::from_bytes(s.as_bytes()).unwrap();
    vec![
        (header::DATE, v(DATE1)),
        (header::DATE, v(DATE1)),
        (header::DATE, v(DATE2)),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html")),
        (header::CONTENT_TYPE, v("text/css")),
        (header::ETAG, v("\"abc\"")),
        (header::CONTENT_LENGTH, HeaderValue::from(1024u64)),
        (header::CONTENT_LENGTH, HeaderValue::from(1024u64)),
        (HeaderName::from_static("x-custom"), v("1")),
        (HeaderName::from_static("x-custom"), v("2")),
        (header::CACHE_CONTROL, v("no-cache")),
        (header::VARY, v("accept-encoding")),
    ]
}

proptest! {
    #[test]
    fn held_fields_encode_as_their_bytes(
        blocks in proptest::collection::vec(
            (
                proptest::option::of(prop_oneof![Just(0usize), Just(64usize), 0..5000usize]),
                proptest::collection::vec((0..12usize, any::<bool>()), 0..8),
            ),
            1..12,
        ),
    ) {
        let pool = held_pool();
        let (mut e, mut d) = (Encoder::new(), Decoder::new(4096));
        for (table_size, list) in blocks {
            if let Some(n) = table_size {
                e.set_max_table_size(n);
            }
            let mut out = Vec::new();
            e.status(200, &mut out);
            let mut want = vec![(b":status".to_vec(), b"200".to_vec())];
            for (i, as_header) in list {
                let (n, v) = &pool[i];
                if as_header {
                    e.header(n, v, &mut out);
                } else {
                    e.field(n.as_str().as_bytes(), v.as_bytes(), &mut out);
                }
                want.push((n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()));
            }
            prop_assert_eq!(decode(&mut d, &out), Ok(want));
            prop_assert_eq!(entries(d.table()), entries(e.table()));
        }
    }
}

#[test]
fn a_held_field_is_replayed_by_address_and_only_while_the_table_stands_still() {
    let pool = held_pool();
    let (mut e, mut d) = (Encoder::new(), Decoder::new(4096));
    let block = |e: &mut Encoder, picks: &[usize]| {
        let mut out = Vec::new();
        e.status(200, &mut out);
        for &i in picks {
            e.header(&pool[i].0, &pool[i].1, &mut out);
        }
        out
    };
    let want = |date: &str| {
        fields(&[
            (":status", "200"),
            ("date", date),
            ("content-type", "text/html"),
            ("etag", "\"abc\""),
        ])
    };
    let mut send = |b: Vec<u8>, date: &str| {
        assert_eq!(decode(&mut d, &b).unwrap(), want(date), "{b:02x?}");
        b
    };
    let first = send(block(&mut e, &[0, 3, 5]), DATE1);
    let second = send(block(&mut e, &[0, 3, 5]), DATE1);
    // Every field went into the table with the first block: indexes now.
    assert!(second.len() < first.len());
    let third = send(block(&mut e, &[0, 3, 5]), DATE1);
    assert_eq!(second, third);
    // Equal bytes at another address, then other bytes at that place.
    assert_eq!(send(block(&mut e, &[1, 3, 5]), DATE1), third);
    assert_ne!(send(block(&mut e, &[2, 3, 5]), DATE2), third);
    // The second date went into the table: the first one's index moved.
    let moved = send(block(&mut e, &[0, 3, 5]), DATE1);
    assert_ne!(moved, third);
    assert_eq!(send(block(&mut e, &[0, 3, 5]), DATE1), moved);
    // The table emptied and refilled between two blocks: nothing replayed
    // names an entry the peer no longer has.
    e.set_max_table_size(0);
    e.set_max_table_size(4096);
    let after = send(block(&mut e, &[0, 3, 5]), DATE1);
    assert_ne!(after, moved);
    assert_eq!(entries(d.table()), entries(e.table()));
}
