#![allow(clippy::single_range_in_vec_init)]
use super::reference::resolve_reference;
use super::*;

fn sat(v: &str, len: u64) -> Vec<Range<u64>> {
    match resolve(v.as_bytes(), len) {
        Resolved::Satisfiable(s) => s.as_slice().to_vec(),
        other => panic!("{v}: {other:?}"),
    }
}

#[test]
fn examples_rfc9110_14_1_2() {
    // §14.1.2, a representation of length 10000.
    for (v, want) in [
        ("bytes=0-499", vec![0..500]),              // "The first 500 bytes"
        ("bytes=500-999", vec![500..1000]),         // "The second 500 bytes"
        ("bytes=-500", vec![9500..10_000]),         // "The final 500 bytes (suffix range)"
        ("bytes=9500-", vec![9500..10_000]),        // "The final 500 bytes"
        ("bytes=0-0,-1", vec![0..1, 9999..10_000]), // "The first and last bytes only"
        ("bytes=500-600,601-999", vec![500..1000]), // "Other valid (but not canonical)"
        ("bytes=500-700,601-999", vec![500..1000]),
    ] {
        assert_eq!(sat(v, 10_000), want, "{v}");
    }
}

#[test]
fn parts_keep_request_order_rfc9110_14_6() {
    // §14.6: "the server SHOULD send the parts in the same order that the
    // corresponding range-spec appeared in the received Range header field,
    // excluding those ranges that were deemed unsatisfiable or that were
    // coalesced into other ranges."
    for (v, want) in [
        ("bytes=5000-5099,100-199", vec![5000..5100, 100..200]),
        ("bytes=-1,0-0", vec![9999..10_000, 0..1]),
        ("bytes=9-9,20000-,0-0", vec![9..10, 0..1]), // unsatisfiable one left out
        // Coalesced ranges stand where the first range-spec they cover stood.
        ("bytes=50-59,0-9,5-54", vec![0..60]),
        ("bytes=50-59,0-9,60-69", vec![50..70, 0..10]),
        ("bytes=90-99,0-9,50-59,10-49", vec![90..100, 0..60]),
        ("bytes=90-99,0-9,50-59,40-89", vec![40..100, 0..10]),
    ] {
        assert_eq!(sat(v, 10_000), want, "{v}");
    }
}

#[test]
fn whitespace_case_and_clamping() {
    assert_eq!(sat("bytes= 0-1 ,  5-6", 10), vec![0..2, 5..7]);
    assert_eq!(sat("BYTES=0-1", 10), vec![0..2]);
    assert_eq!(sat("bytes=5-999999", 10), vec![5..10]);
    assert_eq!(sat("bytes=-999999", 10), vec![0..10]);
    assert_eq!(sat("bytes=0-99999999999999999999999", 10), vec![0..10]);
    assert_eq!(sat("bytes=9-9", 10), vec![9..10]);
}

#[test]
fn hostile_and_invalid() {
    use Resolved::{Ignore, Unsatisfiable};
    for (v, want) in [
        ("bytes=", Ignore),
        ("bytes=-", Ignore),
        ("bytes=--1", Ignore),
        ("bytes=1-0", Ignore),
        ("bytes=0-1,1-0", Ignore),
        ("bytes=a-b", Ignore),
        ("bytes=+1-2", Ignore),
        ("bytes=1 -2", Ignore),
        ("bytes=0x10-", Ignore),
        ("bytes 0-1", Ignore),
        ("items=0-1", Ignore),
        ("=0-1", Ignore),
        ("", Ignore),
        ("bytes=\u{e9}-1", Ignore),
        ("bytes=１-2", Ignore),
        ("bytes=10-", Unsatisfiable),
        ("bytes=99999999999999999999-", Unsatisfiable),
        ("bytes=-0", Unsatisfiable),
        ("bytes=10-20,30-40", Unsatisfiable),
    ] {
        assert_eq!(resolve(v.as_bytes(), 10), want, "{v}");
    }
}

#[test]
fn zero_length_never_gets_206() {
    assert_eq!(resolve(b"bytes=0-", 0), Resolved::Unsatisfiable);
    assert_eq!(resolve(b"bytes=-5", 0), Resolved::Ignore);
    assert_eq!(resolve(b"bytes=-0", 0), Resolved::Unsatisfiable);
}

#[test]
fn abuse_is_ignored() {
    let many = format!("bytes={}", vec!["0-0"; 10_000].join(","));
    assert_eq!(resolve(many.as_bytes(), 100), Resolved::Ignore);
    let overlapping = format!("bytes={}", ["0-99"; 3].join(","));
    assert_eq!(resolve(overlapping.as_bytes(), 100), Resolved::Ignore);
    // A lot of small distinct ranges under the limit are fine.
    let small: Vec<String> = (0..50).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
    assert_eq!(sat(&format!("bytes={}", small.join(",")), 1000).len(), 50);
}

#[test]
fn lengths_past_four_gib_and_two_to_the_63() {
    let len = 1u64 << 63;
    assert_eq!(
        sat("bytes=4294967296-4294967299", len),
        vec![4_294_967_296..4_294_967_300]
    );
    assert_eq!(sat("bytes=-1", len), vec![len - 1..len]);
    assert_eq!(sat("bytes=9223372036854775806-", len), vec![len - 2..len]);
    assert_eq!(
        sat("bytes=0-18446744073709551615", u64::MAX),
        vec![0..u64::MAX]
    );
}

#[test]
fn content_range_formats() {
    assert_eq!(content_range(&(0..500), 10_000), "bytes 0-499/10000");
    assert_eq!(unsatisfied_content_range(10), "bytes */10");
    assert_eq!(content_range(&(0..1), 1), "bytes 0-0/1");
    assert_eq!(
        content_range(&(u64::MAX - 1..u64::MAX), u64::MAX),
        "bytes 18446744073709551614-18446744073709551614/18446744073709551615"
    );
    assert_eq!(
        unsatisfied_content_range(u64::MAX),
        "bytes */18446744073709551615"
    );
    assert_eq!(unsatisfied_content_range(0), "bytes */0");
    for n in [
        0,
        9,
        10,
        99,
        100,
        999,
        1000,
        10u64.pow(19) - 1,
        10u64.pow(19),
    ] {
        assert_eq!(unsatisfied_content_range(n), format!("bytes */{n}"));
        assert_eq!(
            content_range_value(&(n..n + 1), n + 1),
            format!("bytes {n}-{n}/{}", n + 1).as_str()
        );
    }
}

#[test]
fn quotes_and_backslashes_are_ignored_as_before() {
    for v in [
        r#"bytes="0-1,2-3""#,
        r#"bytes=0-1,"2-3""#,
        r#"bytes=0-1,"2-3,4-5"#,
        r#"bytes=0-1,"",5-6""#,
        r#"bytes=0-1,"5-6"#,
        r#"bytes=",0-1"#,
        r#""bytes"=0-1"#,
    ] {
        assert_eq!(resolve(v.as_bytes(), 10), Resolved::Ignore, "{v}");
        assert_eq!(resolve_reference(v.as_bytes(), 10), Resolved::Ignore, "{v}");
    }
}

/// Range headers mostly well formed: small numbers that overlap and touch,
/// empty elements, OWS, and now and then quotes, backslashes, overflow or junk.
fn structured_header() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let num =
        || proptest::option::of(prop_oneof![8 => 0u64..12, 1 => 0u64..45, 1 => Just(u64::MAX)]);
    let item = prop_oneof![
        8 => (num(), num()).prop_map(|(a, b)| format!(
            "{}-{}",
            a.map(|a| a.to_string()).unwrap_or_default(),
            b.map(|b| b.to_string()).unwrap_or_default()
        )),
        1 => proptest::sample::select(vec![
            "", " ", "\t", "\"0-1\"", "\"", "\\", "\"\\\"", "-", "18446744073709551616-",
            "0-99999999999999999999", "0x1-", "1-\"2,3\"-4", "1 -2", "\u{e9}",
        ]).prop_map(str::to_owned),
    ];
    let sep = proptest::sample::select(vec![",", ", ", " ,", ",,", "\t,"]);
    let prefix = proptest::sample::select(vec![
        "bytes=", "bytes=", "bytes=", "BYTES=", " bytes= ", "bytes =", "items=", "bytes", "=",
    ]);
    (prefix, proptest::collection::vec((item, sep), 0..8)).prop_map(|(prefix, items)| {
        let mut h = prefix.to_owned();
        for (i, (item, sep)) in items.iter().enumerate() {
            if i > 0 {
                h.push_str(sep);
            }
            h.push_str(item);
        }
        h
    })
}

proptest::proptest! {
    #[test]
    fn resolve_agrees_with_the_reference(
        header in structured_header(),
        len in proptest::prop_oneof![0u64..15, 0u64..45, 0u64..1 << 40, proptest::strategy::Just(u64::MAX)],
    ) {
        proptest::prop_assert_eq!(
            resolve(header.as_bytes(), len),
            resolve_reference(header.as_bytes(), len),
            "{:?}", header
        );
    }

    #[test]
    fn resolve_agrees_with_the_reference_on_any_text(header in ".{0,60}", len in 0u64..1 << 40) {
        proptest::prop_assert_eq!(
            resolve(header.as_bytes(), len),
            resolve_reference(header.as_bytes(), len)
        );
    }

    #[test]
    fn content_range_is_what_format_wrote(a in proptest::num::u64::ANY, b in proptest::num::u64::ANY, len in proptest::num::u64::ANY) {
        let r = a.min(b)..a.max(b);
        proptest::prop_assert_eq!(
            content_range(&r, len),
            format!("bytes {}-{}/{len}", r.start, r.end.saturating_sub(1))
        );
        let want = content_range(&r, len);
        proptest::prop_assert_eq!(content_range_value(&r, len), want.as_str());
        proptest::prop_assert_eq!(unsatisfied_content_range(len), format!("bytes */{len}"));
        let want = format!("bytes */{len}");
        proptest::prop_assert_eq!(unsatisfied_content_range_value(len), want.as_str());
    }

    #[test]
    fn resolved_ranges_stay_inside(header in ".{0,80}", len in 0u64..1 << 40) {
        if let Resolved::Satisfiable(set) = resolve(header.as_bytes(), len) {
            let r = set.as_slice();
            proptest::prop_assert!(!r.is_empty());
            proptest::prop_assert!(r.iter().all(|r| r.start < r.end && r.end <= len));
            // Coalesced: no two ranges overlap or touch, in whatever order.
            for (i, a) in r.iter().enumerate() {
                proptest::prop_assert!(r[i + 1..].iter().all(|b| a.end < b.start || b.end < a.start));
            }
            proptest::prop_assert!(set.total_len() <= len);
        }
    }

    #[test]
    fn structured_headers_never_send_more_than_the_length(
        specs in proptest::collection::vec((proptest::option::of(0u64..2000), proptest::option::of(0u64..2000)), 1..150),
        len in 0u64..1500,
    ) {
        let items: Vec<String> = specs.iter().map(|(a, b)| format!(
            "{}-{}", a.map(|a| a.to_string()).unwrap_or_default(), b.map(|b| b.to_string()).unwrap_or_default())).collect();
        let header = format!("bytes={}", items.join(","));
        match resolve(header.as_bytes(), len) {
            Resolved::Satisfiable(set) => {
                proptest::prop_assert!(set.total_len() <= len);
                proptest::prop_assert!(set.as_slice().len() <= MAX_RANGES);
            }
            Resolved::Ignore | Resolved::Unsatisfiable => {}
        }
    }
}
