//! One behaviour table (RFC 9110) over every transport `ferry serve` speaks:
//! the plaintext HTTP/1.1 fast path (`h1/`), HTTPS with HTTP/2 and with
//! HTTP/1.1, h2c with prior knowledge (plus HTTP/1.1 on the h2c port),
//! framed by hyper (`hyper_wire.rs`), and HTTP/3 over QUIC on the HTTPS port
//! (`quic/`). Each row is checked on every transport,
//! and every transport must answer exactly what the fast path answers.
use super::fixture::{a_txt, big_bin, fixture, CSS, CSS_BR};
use super::transports::{
    assert_no_failures, boundary, normalize, parts, row, Servers, Transport, TRANSPORTS,
};
use super::{client, pki, Ca, Ferry};
use http::{Method, StatusCode};

fn status(r: &client::Resp, want: u16) {
    assert_eq!(r.status.as_u16(), want, "status; {r:?}");
}

fn has(r: &client::Resp, name: &str, want: &str) {
    assert_eq!(r.header(name), Some(want), "{name}; {r:?}");
}

fn no_body(r: &client::Resp) {
    assert!(r.body.is_empty(), "no body; {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_answers_over_h1_fast_path_https_h2_https_h1_h2c_and_h3() {
    let dir = tempfile::tempdir().unwrap();
    let site = fixture(dir.path());
    let root = Ca::root("ferry table root");
    let leaf = root.leaf("ferry table", 1);
    let (cert, key) = pki::write_pair(dir.path(), "live", &leaf, &[]);
    let s = site.to_str().unwrap();
    let servers = Servers {
        fast: Ferry::start(&["serve", s]),
        tls: Ferry::serve_tls(&site, &cert, &key, &[]),
        h2c: Ferry::start(&["serve", s, "--h2c"]),
        root,
    };
    assert_eq!(servers.fast.scheme, "http");
    assert_eq!(servers.h2c.scheme, "http");

    // The validators every row compares against, from the fast path.
    let get = Method::GET;
    let base = servers.send(Transport::FastH1, &get, "/a.txt", &[]).await;
    let etag = base.header("etag").expect("an ETag").to_string();
    let last_modified = base
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    let css_etag = servers
        .send(Transport::FastH1, &get, "/x.css", &[])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let a = a_txt();
    let a = &a[..];
    let big = big_bin();
    let big = &big[..];
    let weak_etag = format!("W/{etag}");

    let rows = vec![
        // §9.3.1 GET transfers the selected representation; §8.8.3 ETag,
        // §8.8.2 Last-Modified, §8.6 Content-Length, §8.3 Content-Type.
        row("get_200", get.clone(), "/a.txt", &[], |r| {
            status(r, 200);
            has(r, "etag", &etag);
            has(r, "last-modified", &last_modified);
            has(r, "content-length", "100");
            assert!(
                r.header("content-type").unwrap().starts_with("text/plain"),
                "{r:?}"
            );
            has(r, "accept-ranges", "bytes");
            assert_eq!(&r.body[..], a);
        }),
        // §9.3.2: "The server SHOULD send the same header fields in response
        // to a HEAD request as it would have sent if the request method had
        // been GET", and no content.
        row("head_200", Method::HEAD, "/a.txt", &[], |r| {
            status(r, 200);
            let mut want = normalize(&base);
            want.2.clear();
            assert_eq!(normalize(r), want, "HEAD = GET without the body");
        }),
        // §9.3.2 with §14.2: HEAD with Range gets the 206 head, no content.
        row(
            "head_range_206",
            Method::HEAD,
            "/a.txt",
            &[("range", "bytes=0-9")],
            |r| {
                status(r, 206);
                has(r, "content-range", "bytes 0-9/100");
                has(r, "content-length", "10");
                no_body(r);
            },
        ),
        // §13.1.2: If-None-Match matching the current ETag → 304; §15.4.5:
        // the 304 MUST carry ETag, and has no content.
        row(
            "if_none_match_304",
            get.clone(),
            "/a.txt",
            &[("if-none-match", &etag)],
            |r| {
                status(r, 304);
                has(r, "etag", &etag);
                no_body(r);
            },
        ),
        // §13.1.2: "*" matches any current representation; the comparison
        // is weak (§8.8.3.2), so W/"x" matches "x".
        row(
            "if_none_match_star_304",
            get.clone(),
            "/a.txt",
            &[("if-none-match", "*")],
            |r| {
                status(r, 304);
                no_body(r);
            },
        ),
        row(
            "if_none_match_weak_304",
            get.clone(),
            "/a.txt",
            &[("if-none-match", &weak_etag)],
            |r| {
                status(r, 304);
                no_body(r);
            },
        ),
        // §13.1.2: "a recipient MUST ignore If-Modified-Since if the request
        // contains an If-None-Match header field"; a tag that does not
        // match wins over a date that would give 304.
        row(
            "if_none_match_beats_if_modified_since_200",
            get.clone(),
            "/a.txt",
            &[
                ("if-none-match", "\"other\""),
                ("if-modified-since", &last_modified),
            ],
            |r| {
                status(r, 200);
                assert_eq!(&r.body[..], a);
            },
        ),
        // §13.1.3: not modified since the date it was last modified → 304.
        row(
            "if_modified_since_304",
            get.clone(),
            "/a.txt",
            &[("if-modified-since", &last_modified)],
            |r| {
                status(r, 304);
                has(r, "etag", &etag);
                no_body(r);
            },
        ),
        // §13.1.1: If-Match naming no current tag is false → 412 (§15.5.13).
        row(
            "if_match_mismatch_412",
            get.clone(),
            "/a.txt",
            &[("if-match", "\"not-it\"")],
            |r| {
                status(r, 412);
                assert_ne!(&r.body[..], a, "no content of the file");
            },
        ),
        // §13.1.4: modified after If-Unmodified-Since → 412.
        row(
            "if_unmodified_since_past_412",
            get.clone(),
            "/a.txt",
            &[("if-unmodified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
            |r| status(r, 412),
        ),
        // §14.4 / §15.3.7: one satisfiable range → 206 with Content-Range.
        row(
            "range_206",
            get.clone(),
            "/a.txt",
            &[("range", "bytes=0-9")],
            |r| {
                status(r, 206);
                has(r, "content-range", "bytes 0-9/100");
                has(r, "content-length", "10");
                has(r, "etag", &etag);
                assert_eq!(&r.body[..], &a[..10]);
            },
        ),
        // §14.2: "A server that supports range requests MAY ignore or reject
        // a Range header field that contains an invalid ranges-specifier"
        // (§14.1.1: 5-2 is invalid, last < first). ferry ignores it: 200.
        row(
            "range_invalid_spec_ignored_200",
            get.clone(),
            "/a.txt",
            &[("range", "bytes=5-2,999999-")],
            |r| {
                status(r, 200);
                assert!(r.header("content-range").is_none(), "{r:?}");
                assert_eq!(&r.body[..], a);
            },
        ),
        // §15.5.17: no satisfiable range → 416, and the server "SHOULD
        // generate a Content-Range header field specifying the current
        // length of the selected representation" (`bytes */100`).
        row(
            "range_unsatisfiable_416",
            get.clone(),
            "/a.txt",
            &[("range", "bytes=200-300,999999-")],
            |r| {
                status(r, 416);
                has(r, "content-range", "bytes */100");
            },
        ),
        // §14.6: two ranges → 206 multipart/byteranges, each part with its
        // own Content-Type and Content-Range.
        row(
            "two_ranges_multipart_206",
            get.clone(),
            "/a.txt",
            &[("range", "bytes=0-4,10-14")],
            |r| {
                status(r, 206);
                assert!(
                    r.header("content-range").is_none(),
                    "only in the parts; {r:?}"
                );
                let b = boundary(r).unwrap_or_else(|| panic!("multipart; {r:?}"));
                assert!(
                    !b.is_empty() && b.len() <= 70,
                    "RFC 2046 §5.1.1: a boundary is 1-70 characters: {b}"
                );
                has(r, "content-length", &r.body.len().to_string());
                let got = parts(&r.body, b);
                assert_eq!(got.len(), 2, "{got:?}");
                for ((fields, bytes), (cr, want)) in got
                    .iter()
                    .zip([("bytes 0-4/100", &a[0..5]), ("bytes 10-14/100", &a[10..15])])
                {
                    let field =
                        |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
                    assert_eq!(field("content-range"), Some(cr), "{fields:?}");
                    assert!(
                        field("content-type").unwrap().starts_with("text/plain"),
                        "{fields:?}"
                    );
                    assert_eq!(&bytes[..], want);
                }
            },
        ),
        // Above the fast path's inline limit: sendfile(2) with an offset on
        // one side, hyper's stream on the other; the bytes must agree.
        row("large_full_200", get.clone(), "/big.bin", &[], |r| {
            status(r, 200);
            has(r, "content-length", "204800");
            assert!(r.body[..] == big[..], "large body differs");
        }),
        row(
            "large_range_206",
            get.clone(),
            "/big.bin",
            &[("range", "bytes=50000-149999")],
            |r| {
                status(r, 206);
                has(r, "content-range", "bytes 50000-149999/204800");
                assert!(r.body[..] == big[50000..150000], "large range differs");
            },
        ),
        row(
            "large_two_ranges_multipart_206",
            get.clone(),
            "/big.bin",
            &[("range", "bytes=0-99,100000-140000")],
            |r| {
                status(r, 206);
                let b = boundary(r).unwrap_or_else(|| panic!("multipart; {r:?}"));
                let got = parts(&r.body, b);
                assert_eq!(got.len(), 2);
                assert!(got[0].1[..] == big[..100] && got[1].1[..] == big[100000..140001]);
            },
        ),
        // §14.1.1: a suffix range on an empty representation is satisfiable
        // but has no Content-Range form; ferry's documented choice (range.rs)
        // is to ignore it: 200 with no content.
        row(
            "empty_file_suffix_range_200",
            get.clone(),
            "/empty.txt",
            &[("range", "bytes=-5")],
            |r| {
                status(r, 200);
                has(r, "content-length", "0");
                no_body(r);
            },
        ),
        // §13.1.5: If-Range with an ETag that no longer matches → ignore
        // Range and send the whole representation.
        row(
            "if_range_stale_etag_200",
            get.clone(),
            "/a.txt",
            &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
            |r| {
                status(r, 200);
                assert!(r.header("content-range").is_none(), "{r:?}");
                assert_eq!(&r.body[..], a);
            },
        ),
        // §12.5.3 Accept-Encoding picks the br sibling; §8.4 Content-Encoding
        // names it; §12.5.5 Vary says the choice depended on Accept-Encoding;
        // §8.8.3.3 a variant has its own entity tag.
        row(
            "accept_encoding_br_variant",
            get.clone(),
            "/x.css",
            &[("accept-encoding", "br")],
            |r| {
                status(r, 200);
                has(r, "content-encoding", "br");
                assert!(
                    r.header("vary")
                        .unwrap()
                        .eq_ignore_ascii_case("accept-encoding"),
                    "{r:?}"
                );
                assert!(
                    r.header("content-type").unwrap().starts_with("text/css"),
                    "{r:?}"
                );
                assert_ne!(r.header("etag"), Some(css_etag.as_str()), "its own ETag");
                assert_eq!(&r.body[..], CSS_BR);
            },
        ),
        // §12.5.5: identity is sent with the same Vary, since variants exist.
        row(
            "no_accept_encoding_identity",
            get.clone(),
            "/x.css",
            &[],
            |r| {
                status(r, 200);
                assert!(r.header("content-encoding").is_none(), "{r:?}");
                assert!(
                    r.header("vary")
                        .unwrap()
                        .eq_ignore_ascii_case("accept-encoding"),
                    "{r:?}"
                );
                assert_eq!(&r.body[..], CSS.as_bytes());
            },
        ),
        // §15.5.6: "The origin server MUST generate an Allow header field in
        // a 405 response containing a list of the target resource's
        // currently supported methods."
        row("post_405_with_allow", Method::POST, "/a.txt", &[], |r| {
            status(r, 405);
            has(r, "allow", "GET, HEAD");
        }),
        row("put_405_with_allow", Method::PUT, "/a.txt", &[], |r| {
            status(r, 405);
            has(r, "allow", "GET, HEAD");
        }),
        row(
            "options_405_with_allow",
            Method::OPTIONS,
            "/a.txt",
            &[],
            |r| {
                status(r, 405);
                has(r, "allow", "GET, HEAD");
            },
        ),
        // §15.5.5: no current representation → 404.
        row("missing_404", get.clone(), "/missing.txt", &[], |r| {
            status(r, 404);
            has(r, "content-length", &r.body.len().to_string());
        }),
        // §9.3.2: the 404's head without its content.
        row("head_missing_404", Method::HEAD, "/missing.txt", &[], |r| {
            status(r, 404);
            no_body(r);
        }),
        // Hidden names are 404 unless --show-hidden (ferry's choice).
        row("hidden_404", get.clone(), "/.env", &[], not_served),
        // §15.4.9: a directory named without its slash → 308 to the slash
        // form (so relative links in its index resolve, RFC 3986 §5.2).
        row(
            "directory_without_slash_308",
            get.clone(),
            "/sub",
            &[],
            |r| {
                status(r, 308);
                has(r, "location", "/sub/");
            },
        ),
        // §15.4.9 with RFC 3986 §5.2: the query stays on the new target.
        row(
            "directory_redirect_keeps_query_308",
            get.clone(),
            "/sub?x=1",
            &[],
            |r| {
                status(r, 308);
                has(r, "location", "/sub/?x=1");
            },
        ),
        row(
            "head_directory_redirect_308",
            Method::HEAD,
            "/sub",
            &[],
            |r| {
                status(r, 308);
                has(r, "location", "/sub/");
                no_body(r);
            },
        ),
        row(
            "directory_with_slash_index",
            get.clone(),
            "/sub/",
            &[],
            |r| {
                status(r, 200);
                assert_eq!(&r.body[..], b"<p>sub</p>\n");
            },
        ),
        // §17.3 (attacks based on file and path names): a request-target
        // with dot segments must never reach a file outside the root.
        row(
            "traversal_dot_dot",
            get.clone(),
            "/../secret.txt",
            &[],
            not_served,
        ),
        row(
            "traversal_nested",
            get.clone(),
            "/sub/../../secret.txt",
            &[],
            not_served,
        ),
        row(
            "traversal_encoded",
            get.clone(),
            "/%2e%2e/secret.txt",
            &[],
            not_served,
        ),
        row(
            "traversal_encoded_slash",
            get.clone(),
            "/sub%2f..%2f..%2fsecret.txt",
            &[],
            not_served,
        ),
    ];

    let mut failures = Vec::new();
    // Each row on a connection of its own, over every transport: checked,
    // and compared with the fast path's answer.
    let mut answers: Vec<Vec<client::Resp>> = Vec::new();
    for row in &rows {
        answers.push(servers.check_row(row, &mut failures).await);
    }
    // Then every row on one connection per transport: in order on one
    // HTTP/1.1 keep-alive connection (after HEADs, 304s, 405s and errors
    // alike), all at once on one HTTP/2 connection as concurrent streams
    // (RFC 9113 §5). Each answer must equal the fresh-connection one.
    for (i, t) in TRANSPORTS.into_iter().enumerate() {
        let conn = servers.connect(t).await;
        let mut got = Vec::new();
        if Servers::multiplexed(t) {
            let tasks: Vec<_> = rows
                .iter()
                .map(|row| {
                    let (conn, req) = (
                        conn.clone(),
                        servers.request(t, &row.method, row.path, &row.headers),
                    );
                    tokio::spawn(async move { conn.send(req).await })
                })
                .collect();
            for task in tasks {
                got.push(task.await.unwrap());
            }
        } else {
            for row in &rows {
                got.push(
                    conn.send(servers.request(t, &row.method, row.path, &row.headers))
                        .await,
                );
            }
        }
        assert_eq!(got.len(), rows.len());
        for ((row, per), r) in rows.iter().zip(&answers).zip(&got) {
            let (a, b) = (normalize(&per[i]), normalize(r));
            if a != b {
                failures.push(format!(
                    "{} over {t:?} on a shared connection differs:\n  alone: {a:?}\n  shared: {b:?}",
                    row.name
                ));
            }
        }
    }
    assert_no_failures(&failures);
}

/// Not a 2xx, and not the secret's bytes.
fn not_served(r: &client::Resp) {
    assert!(
        r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
        "404 or 400; {r:?}"
    );
    assert!(
        !String::from_utf8_lossy(&r.body).contains("TOP SECRET"),
        "{r:?}"
    );
}
