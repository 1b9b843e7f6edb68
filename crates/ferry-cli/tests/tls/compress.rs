//! On-the-fly compression over every transport `ferry serve` speaks, as one
//! table (like `table.rs`): the coding chosen by weight and then zstd > br >
//! gzip, each coding's own ETag and its 304, `Vary` on every compressible
//! answer, ranges of the identity bytes, HEAD, what is never compressed, a
//! precompressed sibling first, `--compress-max-size`, `--no-compress`, and
//! the access log's `content_encoding`. Coded bodies are decoded and compared
//! with the file.
use super::transports::{assert_no_failures, row, Servers, Transport};
use super::{pki, Ca, Ferry};
use crate::client::Resp;
use http::Method;
use std::io::Read as _;
use std::path::Path;

/// About 30 KiB of stylesheet, none of it repeated verbatim.
fn app_css() -> Vec<u8> {
    (0..600)
        .map(|i| {
            format!(
                ".card-{i} {{ color: #{:06x}; padding: {}px {}px; border-radius: {}px }}\n",
                (i * 2_654_435_761u64) & 0xff_ffff,
                i % 13,
                i % 7,
                i % 5
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// Not real brotli: the sibling's bytes are served as they are.
const PRE_BR: &[u8] = b"\x8b\x09\x80sibling-br\x03";

fn site(dir: &Path) -> std::path::PathBuf {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("app.css"), app_css()).unwrap();
    std::fs::write(site.join("pre.css"), app_css()).unwrap();
    std::fs::write(site.join("pre.css.br"), PRE_BR).unwrap();
    std::fs::write(site.join("small.css"), "a { color: red }\n").unwrap();
    // Bytes every coding shrinks, so that only the type can keep them as is.
    std::fs::write(site.join("photo.png"), app_css()).unwrap();
    // Above --compress-max-size 64k below.
    std::fs::write(site.join("huge.js"), app_css().repeat(4)).unwrap();
    site
}

fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "zstd" => out = zstd::decode_all(data).expect("zstd"),
        "br" => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .expect("br");
        }
        "gzip" => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        other => panic!("coding {other}"),
    }
    out
}

fn status(r: &Resp, want: u16) {
    assert_eq!(r.status.as_u16(), want, "status; {r:?}");
}

fn has(r: &Resp, name: &str, want: &str) {
    assert_eq!(r.header(name), Some(want), "{name}; {r:?}");
}

/// A whole coded answer: `coding`, Vary, and the file once decoded.
fn coded(r: &Resp, coding: &str, file: &[u8]) {
    status(r, 200);
    has(r, "content-encoding", coding);
    has(r, "vary", "accept-encoding");
    has(r, "content-length", &r.body.len().to_string());
    assert!(r.body.len() < file.len() / 2, "{coding} shrank it; {r:?}");
    assert_eq!(
        decode(coding, &r.body),
        file,
        "{coding} decodes to the file"
    );
}

/// The file's own bytes, not coded.
fn identity(r: &Resp, file: &[u8]) {
    assert!(r.header("content-encoding").is_none(), "no coding; {r:?}");
    assert_eq!(&r.body[..], file);
}

const ALL: (&str, &str) = ("accept-encoding", "gzip, deflate, br, zstd");

fn servers(site: &Path, dir: &Path, extra: &[&str]) -> Servers {
    let root = Ca::root("ferry compress root");
    let leaf = root.leaf("ferry compress", 1);
    let (cert, key) = pki::write_pair(dir, &format!("c{}", extra.len()), &leaf, &[]);
    let s = site.to_str().unwrap();
    let with = |more: &[&str]| {
        let mut args = vec!["serve", s];
        args.extend_from_slice(more);
        args.extend_from_slice(extra);
        Ferry::start(&args)
    };
    Servers {
        fast: with(&["--access-log-format", "json"]),
        tls: with(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]),
        h2c: with(&["--h2c"]),
        root,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_on_the_fly_the_same_over_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let servers = servers(&site, dir.path(), &["--compress-max-size", "64k"]);
    let get = Method::GET;
    let css = app_css();
    let css = &css[..];
    let base = servers.send(Transport::FastH1, &get, "/app.css", &[]).await;
    let id_tag = base.header("etag").expect("an ETag").to_string();
    let tag = |coding: &str| format!("{}-{coding}\"", id_tag.trim_end_matches('"'));
    let zstd_tag = tag("zstd");
    let zstd_len = servers
        .send(
            Transport::FastH1,
            &get,
            "/app.css",
            &[("accept-encoding", "zstd".into())],
        )
        .await
        .body
        .len()
        .to_string();

    let rows = vec![
        row("zstd_first_on_ties", get.clone(), "/app.css", &[ALL], |r| {
            coded(r, "zstd", css);
            has(r, "etag", &tag("zstd"));
        }),
        row(
            "br_without_zstd",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "gzip, br")],
            |r| {
                coded(r, "br", css);
                has(r, "etag", &tag("br"));
            },
        ),
        row(
            "gzip_alone",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "gzip")],
            |r| {
                coded(r, "gzip", css);
                has(r, "etag", &tag("gzip"));
            },
        ),
        row(
            "qvalues_win_over_order",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "zstd;q=0.5, br;q=1, gzip;q=0.2")],
            |r| coded(r, "br", css),
        ),
        row(
            "no_accept_encoding_identity_with_vary",
            get.clone(),
            "/app.css",
            &[],
            |r| {
                status(r, 200);
                identity(r, css);
                has(r, "vary", "accept-encoding");
                has(r, "etag", &id_tag);
            },
        ),
        row(
            "identity_weighed_higher",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "gzip;q=0.5, identity;q=1")],
            |r| identity(r, css),
        ),
        row(
            "not_modified_per_coding",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "zstd"), ("if-none-match", &zstd_tag)],
            |r| {
                status(r, 304);
                has(r, "etag", &zstd_tag);
                has(r, "vary", "accept-encoding");
                assert!(r.body.is_empty(), "{r:?}");
            },
        ),
        row(
            "identity_not_modified_with_vary",
            get.clone(),
            "/app.css",
            &[("if-none-match", &id_tag)],
            |r| {
                status(r, 304);
                has(r, "etag", &id_tag);
                has(r, "vary", "accept-encoding");
            },
        ),
        row(
            "another_codings_tag_is_no_match",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "gzip"), ("if-none-match", &zstd_tag)],
            |r| coded(r, "gzip", css),
        ),
        row(
            "the_identity_tag_is_no_match_for_zstd",
            get.clone(),
            "/app.css",
            &[("accept-encoding", "zstd"), ("if-none-match", &id_tag)],
            |r| coded(r, "zstd", css),
        ),
        row(
            "range_gets_identity_bytes",
            get.clone(),
            "/app.css",
            &[ALL, ("range", "bytes=100-199")],
            |r| {
                status(r, 206);
                has(r, "content-range", &format!("bytes 100-199/{}", css.len()));
                has(r, "vary", "accept-encoding");
                has(r, "etag", &id_tag);
                identity(r, &css[100..200]);
            },
        ),
        row(
            "if_range_with_the_identity_tag",
            get.clone(),
            "/app.css",
            &[ALL, ("range", "bytes=0-9"), ("if-range", &id_tag)],
            |r| {
                status(r, 206);
                identity(r, &css[..10]);
            },
        ),
        row(
            "if_range_with_a_coded_tag_gets_the_whole_identity",
            get.clone(),
            "/app.css",
            &[ALL, ("range", "bytes=0-9"), ("if-range", &zstd_tag)],
            |r| {
                status(r, 200);
                identity(r, css);
            },
        ),
        row(
            "head_as_get",
            Method::HEAD,
            "/app.css",
            &[("accept-encoding", "zstd")],
            |r| {
                status(r, 200);
                has(r, "content-encoding", "zstd");
                has(r, "etag", &zstd_tag);
                has(r, "content-length", &zstd_len);
                assert!(r.body.is_empty(), "{r:?}");
            },
        ),
        row("small_file_as_is", get.clone(), "/small.css", &[ALL], |r| {
            status(r, 200);
            identity(r, b"a { color: red }\n");
        }),
        row("image_as_is", get.clone(), "/photo.png", &[ALL], |r| {
            status(r, 200);
            // Compressible bytes: only the type keeps them as they are. (It
            // still varies: a `photo.png.br` sibling could exist.)
            identity(r, css);
        }),
        row(
            "above_max_size_as_is",
            get.clone(),
            "/huge.js",
            &[ALL],
            |r| {
                status(r, 200);
                has(r, "vary", "accept-encoding");
                identity(r, &app_css().repeat(4));
            },
        ),
        row(
            "sibling_before_on_the_fly",
            get.clone(),
            "/pre.css",
            &[ALL],
            |r| {
                status(r, 200);
                has(r, "content-encoding", "br");
                has(r, "vary", "accept-encoding");
                assert_eq!(&r.body[..], PRE_BR);
            },
        ),
        row(
            "on_the_fly_when_the_sibling_is_not_accepted",
            get.clone(),
            "/pre.css",
            &[("accept-encoding", "gzip")],
            |r| coded(r, "gzip", css),
        ),
    ];
    let failures = servers.check_rows(&rows).await;
    assert_no_failures(&failures);

    // The access log names the coding chosen.
    let line = servers.fast.wait_log_n("\"content_encoding\":\"zstd\"", 1);
    assert!(line.contains("\"target\":\"/app.css\""), "{line}");
    let line = servers.fast.wait_log_n("\"content_encoding\":null", 1);
    assert!(line.contains("\"status\":"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_compress_sends_files_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let servers = servers(&site, dir.path(), &["--no-compress"]);
    let css = app_css();
    let css = &css[..];
    let rows = vec![
        row("off", Method::GET, "/app.css", &[ALL], |r| {
            status(r, 200);
            identity(r, css);
        }),
        // Precompressed siblings are another switch.
        row("siblings_still", Method::GET, "/pre.css", &[ALL], |r| {
            has(r, "content-encoding", "br");
        }),
    ];
    let failures = servers.check_rows(&rows).await;
    assert_no_failures(&failures);
}
