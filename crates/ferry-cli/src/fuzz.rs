//! Bodies of the cargo-fuzz targets over the server's parsers of untrusted
//! input: request heads (RFC 9112 §2–§3, §6), chunked framing (§7.1), the
//! proxy's reading of upstream response heads (§4, §6.3), the TOML
//! config file, a request through a site policy, HPACK header blocks
//! (RFC 7541) and the HTTP/2 request they make (RFC 9113 §8). Each is a plain function that asserts its invariants, with a
//! second implementation where one exists (`httparse`'s own view of a head);
//! the stable tests drive them over generated inputs and
//! `fuzz/fuzz_targets/*.rs` are two-line shells around them.
use crate::framing::{decode, Framing};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};
use std::ffi::OsString;

/// The head limit the fuzz bodies parse with (the default `--max-header-size`
/// is larger; small enough here that the fuzzer reaches the 431 path).
const MAX_HEAD: usize = 8 * 1024;

/// A request head: no panic; a head ferry accepts is one `httparse` accepts
/// too, of the same length, method and number of fields (or an HTTP/1.2–1.9
/// version httparse refuses and ferry reads as 1.1, RFC 9110 §2.5); its
/// framing never has both a length and chunked; refusals are 400, 431, 501
/// or 505 only. Through a connection's memo, the same bytes four times
/// give the same answer each time.
pub fn h1_request(data: &[u8]) {
    let ours = crate::h1::parse::parse(data, MAX_HEAD);
    let mut memo = crate::h1::parse::Memo::default();
    for i in 0..4 {
        // The fourth is lent (a connection to `ferry serve` asks that).
        let again = crate::h1::parse::parse_with(&mut memo, data, MAX_HEAD, i == 3);
        match (&ours, &again) {
            (Ok(Some((a, n))), Ok(Some((b, m)))) => {
                assert_eq!(n, m, "head length through the memo");
                assert_eq!(a.req.method(), b.req.method());
                assert_eq!(a.req.uri(), b.req.uri());
                assert_eq!(a.req.version(), b.req.version());
                assert_eq!(a.req.headers(), b.req.headers());
                assert_eq!((a.keep_alive, a.body), (b.keep_alive, b.body));
            }
            (Ok(None), Ok(None)) => {}
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("the memo changed the answer"),
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; crate::h1::parse::MAX_HEADERS];
    let mut r = httparse::Request::new(&mut fields);
    let theirs = r.parse(data);
    match ours {
        Ok(Some((p, used))) => {
            assert!(used <= data.len() && used <= MAX_HEAD);
            match theirs {
                Ok(httparse::Status::Complete(n)) => {
                    assert_eq!(n, used, "head length");
                    assert_eq!(r.method, Some(p.req.method().as_str()));
                    assert_eq!(r.headers.len(), p.req.headers().len(), "field count");
                }
                Err(httparse::Error::Version) => assert_eq!(p.req.version(), Version::HTTP_11),
                other => panic!("ferry read a head httparse did not: {other:?}"),
            }
            let h = p.req.headers();
            match p.body {
                Framing::Chunked => assert!(!h.contains_key(CONTENT_LENGTH)),
                Framing::Length(n) => {
                    assert!(n > 0 && !h.contains_key(TRANSFER_ENCODING));
                }
                Framing::None => assert!(!h.contains_key(TRANSFER_ENCODING)),
                Framing::Close => panic!("a request body is never framed by close"),
            }
            let target = p.req.uri().to_string();
            assert!(!target.contains('#'), "{target:?}");
        }
        Ok(None) => assert!(matches!(
            theirs,
            Ok(httparse::Status::Partial) | Err(httparse::Error::Version)
        )),
        Err(status) => assert!(
            [
                StatusCode::BAD_REQUEST,
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                StatusCode::NOT_IMPLEMENTED,
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ]
            .contains(&status),
            "{status}"
        ),
    }
}

/// A chunked body (`data`'s first byte sets how many bytes arrive at a
/// time, the rest is the wire): no panic; where the body ends does not
/// depend on how the bytes arrive (one piece or many, else a front and a
/// back end could disagree: smuggling); a decoded body, chunked again,
/// decodes to itself.
pub fn framing(data: &[u8]) {
    let (step, wire) = data.split_first().unwrap_or((&1, &[]));
    let step = usize::from(*step % 64) + 1;
    let piecewise = decode(Framing::Chunked, wire, step);
    let whole = decode(Framing::Chunked, wire, wire.len().max(1));
    match (&piecewise, &whole) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the body's end depends on the reads"),
        (Err(_), Err(_)) => {}
        _ => panic!("piecewise {piecewise:?}, whole {whole:?}"),
    }
    if let Ok((body, left)) = piecewise {
        assert!(body.len() + left <= wire.len());
        // One chunk holding the body (none for an empty one: a chunk of
        // size 0 is the last-chunk), then the last-chunk.
        let mut again = Vec::new();
        if !body.is_empty() {
            again.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            again.extend_from_slice(&body);
            again.extend_from_slice(b"\r\n");
        }
        again.extend_from_slice(b"0\r\n\r\n");
        let (round, rest) = decode(Framing::Chunked, &again, 7).expect("re-chunked body");
        assert_eq!((round, rest), (body, 0));
    }
}

/// An upstream's response head to a GET or a HEAD (`data`'s first byte):
/// no panic; accepted heads are heads `httparse` reads to the same length,
/// never a 101 or 1xx taken as final; a HEAD, 204 or 304 has no body; chunked
/// never travels with a Content-Length.
pub fn upstream_response(data: &[u8]) {
    use crate::proxy::upstream::{parse_head, Parsed};
    let (m, head) = data.split_first().unwrap_or((&0, &[]));
    let method = if m & 1 == 0 {
        Method::GET
    } else {
        Method::HEAD
    };
    let Ok(parsed) = parse_head(head, &method) else {
        return;
    };
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut r = httparse::Response::new(&mut fields);
    let theirs = r.parse(head);
    match parsed {
        Parsed::Partial => assert!(matches!(theirs, Ok(httparse::Status::Partial))),
        Parsed::Interim(n) => {
            assert_eq!(theirs.ok(), Some(httparse::Status::Complete(n)));
            assert!((100..200).contains(&r.code.unwrap_or(0)) && r.code != Some(101));
        }
        Parsed::Done(status, headers, framing, _keep, n) => {
            assert_eq!(theirs.ok(), Some(httparse::Status::Complete(n)));
            assert!(!status.is_informational());
            let no_body = method == Method::HEAD
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED;
            if no_body {
                assert_eq!(framing, Framing::None);
            }
            if framing == Framing::Chunked {
                assert!(!headers.contains_key(CONTENT_LENGTH));
            }
        }
    }
}

/// A config file (`data` as its text) merged into `ferry serve
/// --config F` and `ferry proxy --config F`: an error or a command line,
/// never a panic.
pub fn config(data: &[u8]) {
    use clap::Parser as _;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for argv in [
        &["ferry", "serve", "--config", "f.toml"][..],
        &["ferry", "proxy", "--config", "f.toml", "http://127.0.0.1:1"],
    ] {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        if let Ok((out, _, _)) = crate::config::merge(argv, |_| Ok(text.to_owned())) {
            let _ = crate::args::Cli::try_parse_from(out);
        }
    }
}

/// A request head through a site policy with every feature on: no panic;
/// a preflight only for OPTIONS and never behind credentials; a redirect's
/// Location never a network-path reference (`//host`); no fallback for a
/// dotfile or `/.well-known/` key.
pub fn site_request(data: &[u8]) {
    use std::sync::OnceLock;
    static POLICY: OnceLock<crate::policy::Policy> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        use clap::Parser as _;
        let cli = crate::args::Cli::try_parse_from([
            "ferry",
            "serve",
            "/srv",
            "--fallback=/index.html",
            "--fallback-on=any",
            "--error-page=404=/404.html",
            "--header-rule=**=X-Frame-Options: DENY",
            "--redirect=old/**=302:$path",
            "--rewrite=app/**=/app.html",
            "--cors-allow-origin=https://a.test",
            "--basic-auth=admin/**=ann:$2b$10$1cFPXKAWQdqBCoBXHAkmxOwmQWUK8V6s8Kc6ZKTLrFWkY8xl2wu2a",
        ])
        .expect("valid flags");
        let crate::args::Command::Serve(a) = cli.command else {
            unreachable!("serve")
        };
        crate::policy::Policy::new(&a.site)
            .expect("a valid policy")
            .expect("some policy")
    });
    let Ok(Some((p, _))) = crate::h1::parse::parse(data, MAX_HEAD) else {
        return;
    };
    let (method, uri, headers) = (p.req.method(), p.req.uri(), p.req.headers());
    let _ = crate::policy::auth::credentials(headers);
    let d = policy.decide(method, uri, headers, false);
    match &d.action {
        crate::policy::Action::Preflight(_) => {
            assert_eq!(method, Method::OPTIONS);
            assert!(d.auth.is_none(), "a preflight needs no credentials");
        }
        crate::policy::Action::Redirect(_, loc) => {
            // `$path` never makes a network-path reference, nor a
            // backslash browsers would read as one.
            assert!(!loc.as_bytes().starts_with(b"//"), "{loc:?}");
            assert!(!loc.as_bytes().contains(&b'\\'), "{loc:?}");
        }
        _ => {}
    }
    if d.key.split('/').any(|s| s.starts_with('.')) {
        assert!(policy.fallback_for(method, &d.key).is_none());
    }
    let mut res = http::HeaderMap::new();
    policy.finish(headers, &d.key, &mut res);
}

/// An HTTP/2 HEADERS frame's payload (RFC 9113 §6.2) with the PADDED flag,
/// its block decoded (RFC 7541) into the request ferry builds from it
/// (§8.3): no panic; the padding never reaches past the payload; a request
/// built has a method, version 2, a `:path` that is origin-form (or `*` for
/// OPTIONS, or none for CONNECT) and no connection-specific field (§8.2.2).
pub fn h2_request(data: &[u8]) {
    use crate::h2::{frame, request};
    let head = frame::Head {
        len: data.len(),
        kind: frame::kind::HEADERS,
        flags: frame::flag::PADDED | frame::flag::END_HEADERS,
        stream: 1,
    };
    let Some(block) = frame::unpad(&head, data) else {
        return;
    };
    assert!(block.len() < data.len());
    // Decoded twice on one connection: the second time from what the
    // first remembered (request::Memo), to the same request.
    let mut memo = request::Memo::default();
    let mut decoder = crate::hpack::Decoder::new(4096);
    let mut once = |decoder: &mut crate::hpack::Decoder| {
        let mut fields = request::Fields::new(MAX_HEAD, &mut memo);
        decoder.decode(block, |n, v| fields.field(n, v)).ok()?;
        fields.request::<()>().ok()
    };
    let Some(req) = once(&mut decoder) else {
        return;
    };
    // The same block, decoded against the table it was made for (a fresh
    // one) and built from what the first request left in the memo.
    let again = once(&mut crate::hpack::Decoder::new(4096)).expect("the same block, built again");
    assert_eq!(again.uri(), req.uri());
    assert_eq!(again.method(), req.method());
    assert_eq!(again.headers(), req.headers());
    for (name, value) in req.headers() {
        assert!(!crate::pipeline::CONNECTION_SPECIFIC.contains(name));
        assert!(name != http::header::TE || value == "trailers");
    }
}

/// HPACK header blocks (RFC 7541): `data`'s first byte sets the peer's
/// SETTINGS_HEADER_TABLE_SIZE for the encoder (times 16), then each block
/// is a byte of length and that many bytes, decoded in order by one decoder
/// as on one connection. No panic; the decoder's table stays within 4096
/// bytes; each list decoded, encoded again by one encoder and decoded by a
/// second decoder (the peer's), is the same list: the encoder's table and
/// the peer's stay in step.
pub fn hpack(data: &[u8]) {
    use crate::hpack::{Decoder, Encoder};
    let Some((&size, mut rest)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(4096);
    let (mut encoder, mut peer) = (Encoder::new(), Decoder::new(4096));
    encoder.set_max_table_size(usize::from(size) * 16);
    let mut fields = Vec::new();
    let mut again = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        fields.clear();
        let decoded = decoder.decode(block, |n, v| fields.push((n.to_vec(), v.to_vec())));
        if decoded.is_err() {
            // The connection ends with COMPRESSION_ERROR.
            return;
        }
        assert!(decoder.table().size() <= decoder.table().max());
        assert!(decoder.table().max() <= 4096);
        let mut wire = Vec::new();
        for (i, (n, v)) in fields.iter().enumerate() {
            let status = std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<u16>().ok())
                .filter(|s| i == 0 && n == b":status" && s.to_string().as_bytes() == v);
            match status {
                Some(s) => encoder.status(s, &mut wire),
                None => encoder.field(n, v, &mut wire),
            }
        }
        again.clear();
        peer.decode(&wire, |n, v| again.push((n.to_vec(), v.to_vec())))
            .expect("the encoder's own block");
        assert_eq!(again, fields);
        assert!(peer.table().size() <= 4096);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smuggling_shapes_keep_the_invariants() {
        for head in [
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            "GET /#x HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            h1_request(head.as_bytes());
        }
        for wire in [
            &b"\x034\r\nWiki\r\n0\r\n\r\nGET"[..],
            b"\x010 x\r\n\r\n",
            // Found by the framing target: an empty body (a fuzz-body bug,
            // re-chunked as a 0-size chunk that ended the message early).
            b"\x000\r\n\r\n",
            b"\x05ff;a=\"b\r\n",
        ] {
            framing(wire);
        }
        for head in [
            &b"\x00HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"\x01HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            b"\x00HTTP/1.1 100 Continue\r\n\r\n",
        ] {
            upstream_response(head);
        }
        config(b"listen = \"127.0.0.1:1\"\nroot = \"/tmp\"\n[[site]]\nhost = \"a\"\n");
        for head in [
            "OPTIONS /admin/x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.test\r\nAccess-Control-Request-Method: GET\r\n\r\n",
            "GET /old//evil.test HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /%61dmin/ HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YW5uOnB3\r\n\r\n",
            "GET /.well-known/x HTTP/1.1\r\nHost: a\r\n\r\n",
            // Found by the fuzzer: a backslash in the query of a redirect.
            "G /old/ld//ev//gggho/o,ld/ld//ev///d:lst?q\\mit?q=1 HTTP/1.1\r\nHost:]a\r\n\r\n",
        ] {
            site_request(head.as_bytes());
        }
        config(b"max-connections = -1\nsite = 3\n");
    }

    /// RFC 7541 Appendix C.3 and C.6 (a length byte before each block),
    /// and blocks the decoder refuses.
    #[test]
    fn hpack_blocks_keep_the_invariants() {
        let blocks = |size: u8, list: &[&[u8]]| {
            let mut data = vec![size];
            for b in list {
                data.push(u8::try_from(b.len()).unwrap());
                data.extend_from_slice(b);
            }
            data
        };
        let c3: [&[u8]; 3] = [
            b"\x82\x86\x84\x41\x0fwww.example.com",
            b"\x82\x86\x84\xbe\x58\x08no-cache",
            b"\x82\x87\x85\xbf\x40\x0acustom-key\x0ccustom-value",
        ];
        let c6: [&[u8]; 1] = [b"\x48\x82\x64\x02\x58\x85\xae\xc3\x77\x1a\x4b"];
        for size in [0, 4, 255] {
            hpack(&blocks(size, &c3));
            hpack(&blocks(size, &c6));
        }
        // As HEADERS payloads: a pad length, the block, the padding.
        h2_request(b"\x00\x82\x86\x84\x41\x0fwww.example.com");
        h2_request(b"\x02\x82\x86\x84\x41\x0fwww.example.com\x00\x00");
        h2_request(b"\x00\x82\x86\x41\x01a");
        h2_request(b"\x09\x82");
        for bad in [&b"\x80"[..], b"\x82\x20", b"\x3f\xe2\x1f", b"\x00\x81\xff"] {
            hpack(&blocks(0, &[bad]));
        }
    }

    proptest! {
        #[test]
        fn request_heads(
            line in "(GET|HEAD|POST|G T) (/|/a|\\*|http://h/|/#) HTTP/1\\.[0-3]",
            fields in proptest::collection::vec(
                "(Host|Content-Length|Transfer-Encoding|Connection|X): ?(1|chunked|close|a b|-1|chunked, x)?",
                0..5,
            ),
        ) {
            let mut head = format!("{line}\r\n");
            for f in fields {
                head.push_str(&f);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            h1_request(head.as_bytes());
        }

        #[test]
        fn site_requests(
            line in "(GET|HEAD|OPTIONS|POST) /(old|admin|app|\\.well-known|%61dmin|/|\\.\\.|[a-z.%/]){0,6}(\\?[a-z=&]{0,6})? HTTP/1\\.1",
            fields in proptest::collection::vec(
                "(Origin|Access-Control-Request-Method|Access-Control-Request-Headers|Authorization): ?(https://a\\.test|GET|x-a, b|Basic YW5uOnB3|Basic !!|DELETE)?",
                0..4,
            ),
        ) {
            let mut head = format!("{line}\r\nHost: a\r\n");
            for f in fields {
                head.push_str(&f);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            site_request(head.as_bytes());
        }

        #[test]
        fn chunked_bodies(data in proptest::collection::vec(
            prop_oneof![Just(b'0'), Just(b'4'), Just(b'\r'), Just(b'\n'), Just(b';'), Just(b' '), Just(b'x'), Just(b':'), any::<u8>()],
            0..80,
        )) {
            framing(&data);
        }

        #[test]
        fn upstream_heads(
            m in any::<u8>(),
            status in "(100|101|103|200|204|304|404|999)",
            fields in proptest::collection::vec(
                "(Content-Length|Transfer-Encoding|Connection): ?(0|3|chunked|close|gzip, chunked)",
                0..4,
            ),
        ) {
            let mut head = vec![m];
            head.extend_from_slice(format!("HTTP/1.1 {status} X\r\n").as_bytes());
            for f in fields {
                head.extend_from_slice(f.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            upstream_response(&head);
        }

        #[test]
        fn hpack_inputs(data in proptest::collection::vec(
            prop_oneof![Just(0x40u8), Just(0x20), Just(0x3f), Just(0x80), Just(0xbe), Just(0x0f), Just(0x05), any::<u8>()],
            0..200,
        )) {
            hpack(&data);
        }

        /// HEADERS payloads of static-table references (:method GET/POST,
        /// :path /, :scheme http/https) and literal fields, padded or not.
        #[test]
        fn h2_requests(
            pad in 0u8..3,
            fields in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec![0x82u8, 0x83, 0x84, 0x86, 0x87]).prop_map(|b| vec![b]),
                    ("(:method|:path|:scheme|:authority|:status|connection|te|Accept|x)", "(GET|CONNECT|OPTIONS|/|\\*|a b| x|trailers|h:1)?")
                        .prop_map(|(n, v)| {
                            let mut b = vec![0, n.len() as u8];
                            b.extend_from_slice(n.as_bytes());
                            b.push(v.len() as u8);
                            b.extend_from_slice(v.as_bytes());
                            b
                        }),
                ],
                0..7,
            ),
        ) {
            let mut data = vec![pad];
            data.extend(fields.concat());
            data.extend(std::iter::repeat_n(0, usize::from(pad)));
            h2_request(&data);
        }

        #[test]
        fn config_files(text in "((listen|root|max-connections|site|\\[\\[site\\]\\]|host|tls-cert) ?= ?(\"[a-z:0-9/]{0,8}\"|[0-9]{1,3}|true|\\[\\])?\n){0,5}") {
            config(text.as_bytes());
        }
    }
}
