use super::*;
use crate::store::memory::MemoryStore;
use crate::ServeDir;
use http::{HeaderValue, Request, Response};
use std::io::Read as _;
use std::time::{Duration, UNIX_EPOCH};

fn css() -> String {
    (0..400)
        .map(|i| {
            format!(
                ".c{i} {{ color: #{:06x}; margin: {}px }}\n",
                i * 7919,
                i % 17
            )
        })
        .collect()
}

fn svc(store: MemoryStore) -> ServeDir<MemoryStore> {
    ServeDir::new(store).compress(Some(Compress::new()))
}

async fn get(svc: &ServeDir<MemoryStore>, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    svc.serve(&req.body(()).unwrap()).await
}

async fn body(res: Response<Body>) -> Vec<u8> {
    let len = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    collect(res.into_body(), len)
        .await
        .expect("the declared length")
}

fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "zstd" => out = zstd::decode_all(data).unwrap(),
        "br" => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "gzip" => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("{other}"),
    }
    out
}

#[tokio::test]
async fn each_coding_by_weight_with_its_own_etag_and_vary() {
    let text = css();
    let s = svc(MemoryStore::new().file("a.css", text.clone(), UNIX_EPOCH));
    let identity = get(&s, "/a.css", &[]).await;
    assert!(!identity.headers().contains_key("content-encoding"));
    assert_eq!(identity.headers()["vary"], "accept-encoding");
    let id_tag = identity.headers()["etag"].to_str().unwrap().to_owned();
    for (accept, want) in [
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, br", "br"),
        ("gzip", "gzip"),
        ("zstd;q=0.5, br;q=0.9, gzip;q=0.1", "br"),
    ] {
        let res = get(&s, "/a.css", &[("accept-encoding", accept)]).await;
        assert_eq!(res.status(), 200, "{accept}");
        let h = res.headers().clone();
        assert_eq!(h["content-encoding"], want, "{accept}");
        assert_eq!(h["vary"], "accept-encoding");
        let tag = h["etag"].to_str().unwrap();
        assert_eq!(tag, format!("{}-{want}\"", id_tag.trim_end_matches('"')));
        let coded = body(res).await;
        assert!(coded.len() < text.len() / 3, "{want}: {}", coded.len());
        assert_eq!(decode(want, &coded), text.as_bytes(), "{want}");
    }
}

#[tokio::test]
async fn not_modified_per_coding_and_ranges_of_identity() {
    let s = svc(MemoryStore::new().file("a.css", css(), UNIX_EPOCH));
    let zstd = [("accept-encoding", "zstd")];
    let res = get(&s, "/a.css", &zstd).await;
    let tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let id_tag = get(&s, "/a.css", &[]).await.headers()["etag"].clone();
    // The coded tag is a 304 for the same coding, with Vary…
    let res = get(&s, "/a.css", &[zstd[0], ("if-none-match", &tag)]).await;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["vary"], "accept-encoding");
    assert_eq!(res.headers()["etag"], tag.as_str());
    // …and not for another coding or identity.
    let res = get(
        &s,
        "/a.css",
        &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let res = get(&s, "/a.css", &[("if-none-match", &tag)]).await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("content-encoding"));
    // A range is of the identity bytes, whatever is accepted.
    let range = ("range", "bytes=0-9");
    let res = get(&s, "/a.css", &[zstd[0], range]).await;
    assert_eq!(res.status(), 206);
    assert!(!res.headers().contains_key("content-encoding"));
    assert_eq!(res.headers()["vary"], "accept-encoding");
    assert_eq!(body(res).await, &css().as_bytes()[..10]);
    // If-Range with the identity tag: still identity bytes.
    let if_range = ("if-range", id_tag.to_str().unwrap());
    let res = get(&s, "/a.css", &[zstd[0], range, if_range]).await;
    assert_eq!(res.status(), 206);
    assert!(!res.headers().contains_key("content-encoding"));
    // If-Range with the coded tag names another representation: the whole
    // identity (200), never coded bytes.
    let res = get(&s, "/a.css", &[zstd[0], range, ("if-range", &tag)]).await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("content-encoding"));
}

#[tokio::test]
async fn small_incompressible_and_unshrinkable_files_go_as_they_are() {
    // Bytes that no coding shrinks: a xorshift sequence, as text.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let s = svc(MemoryStore::new()
        .file("small.css", "a{}".repeat(300), UNIX_EPOCH)
        .file("a.png", css(), UNIX_EPOCH)
        .file("noise.txt", noise, UNIX_EPOCH));
    let all = [("accept-encoding", "gzip, br, zstd")];
    for path in ["/small.css", "/a.png", "/noise.txt"] {
        let res = get(&s, path, &all).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(!res.headers().contains_key("content-encoding"), "{path}");
        // A compressible type varies even when sent as it is.
        assert_eq!(
            res.headers().contains_key("vary"),
            path != "/a.png",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_hot_file_is_compressed_once() {
    let s = svc(MemoryStore::new().file("a.css", css(), UNIX_EPOCH));
    let all = [("accept-encoding", "gzip, br, zstd")];
    let first = body(get(&s, "/a.css", &all).await).await;
    for _ in 0..5 {
        assert_eq!(body(get(&s, "/a.css", &all).await).await, first);
    }
    assert_eq!(s.compressor().unwrap().made(), 1);
    // HEAD takes the GET path: the same headers, from the cache.
    let req = Request::head("/a.css")
        .header("accept-encoding", "zstd")
        .body(())
        .unwrap();
    let res = s.serve(&req).await;
    assert_eq!(res.headers()["content-encoding"], "zstd");
    assert_eq!(
        res.headers()["content-length"],
        first.len().to_string().as_str()
    );
    assert_eq!(s.compressor().unwrap().made(), 1);
}

#[tokio::test]
async fn another_version_of_a_file_is_compressed_anew() {
    use crate::store::{Hidden, Key, Store as _};
    let c = Compressor::new(Compress::new());
    let mut h = HeaderMap::new();
    h.insert("accept-encoding", HeaderValue::from_static("zstd"));
    let accept = AcceptEncoding::from_headers(&h);
    let key = Key::from_uri_path("/a.css", Hidden::Deny).unwrap();
    for (i, text) in [css(), css() + "p{}", css()].into_iter().enumerate() {
        let store = MemoryStore::new().file(
            "a.css",
            text.clone(),
            UNIX_EPOCH + Duration::from_secs(i as u64),
        );
        let entity = store.open(&key, &accept).await.unwrap();
        let coded = c
            .select(&Method::GET, &h, &accept, key.as_str(), entity)
            .await;
        assert_eq!(coded.get_coding(), Some(ContentCoding::Zstd));
        let len = coded.meta().len;
        let bytes = collect(coded.read(0..len), len).await.unwrap();
        assert_eq!(decode("zstd", &bytes), text.as_bytes(), "version {i}");
        assert_eq!(c.made(), i + 1);
    }
}

#[test]
fn levels_are_clamped_and_windows_fit_browsers() {
    let c = Compress::new()
        .level(ContentCoding::Zstd, 99)
        .level(ContentCoding::Gzip, 0);
    assert_eq!(c.get_level(ContentCoding::Zstd), 19);
    assert_eq!(c.get_level(ContentCoding::Gzip), 1);
    // A decoder that allows only what RFC 9659 §3 makes browsers accept (an
    // 8 MiB window, log 23) reads a file larger than that at every level,
    // and a small file asks for no more window than its size (log 14 for
    // its 15 KB). A streaming decoder, as a browser's: a one-shot one writes
    // into the whole output and does not check the window.
    let decode_within = |log: u32, coded: &[u8]| {
        let mut d = zstd::stream::read::Decoder::new(coded).unwrap();
        d.window_log_max(log).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).map(|_| out)
    };
    let small = css();
    let large: Vec<u8> = small.repeat((9 << 20) / small.len() + 1).into_bytes();
    for level in Compress::levels(ContentCoding::Zstd) {
        let c = Compress::new().level(ContentCoding::Zstd, level);
        for (data, log) in [(small.as_bytes(), 14), (&large[..], 23)] {
            let coded = c.encode(ContentCoding::Zstd, data).unwrap();
            assert_eq!(decode_within(log, &coded).unwrap(), data, "{level}");
            if level == 19 {
                // The bound is met exactly: this level uses the whole window.
                assert!(decode_within(log - 1, &coded).is_err(), "{log}");
            }
        }
    }
}

#[cfg(feature = "fs")]
#[tokio::test]
async fn a_handed_off_file_is_compressed_by_the_applications_type() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("report.csv"), css()).unwrap();
    let honor = crate::sendfile::Honor::new()
        .accel("/protected/", crate::FsStore::new(d.path()).unwrap())
        .compress(Some(Compress::new()));
    let mut h = HeaderMap::new();
    h.insert("accept-encoding", HeaderValue::from_static("gzip"));
    for (ty, coded) in [("text/csv", true), ("application/pdf", false)] {
        let mut up = HeaderMap::new();
        up.insert(
            "x-accel-redirect",
            HeaderValue::from_static("/protected/report.csv"),
        );
        up.insert("content-type", HeaderValue::from_static(ty));
        let res = honor.serve(&Method::GET, &h, &up).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], ty);
        assert_eq!(
            res.headers().contains_key("content-encoding"),
            coded,
            "{ty}"
        );
        let coding = res.headers().get("content-encoding").cloned();
        let bytes = body(res).await;
        let text = match coding {
            Some(c) => decode(c.to_str().unwrap(), &bytes),
            None => bytes,
        };
        assert_eq!(text, css().as_bytes(), "{ty}");
    }
}

#[tokio::test]
async fn revalidating_an_uncached_variant_compresses_nothing() {
    let store = MemoryStore::new().file("a.css", css(), UNIX_EPOCH);
    let zstd = ("accept-encoding", "zstd");
    let tag = get(&svc(store.clone()), "/a.css", &[zstd]).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let weak = format!("W/{tag}");
    // After a restart (a new cache), and with a cache that keeps nothing.
    let restarted = svc(store.clone());
    let uncached = ServeDir::new(store).compress(Some(Compress::new().cache_size(0)));
    for s in [&restarted, &uncached] {
        for inm in [tag.as_str(), &weak, &format!("\"x\", {tag}")] {
            let res = get(s, "/a.css", &[zstd, ("if-none-match", inm)]).await;
            assert_eq!(res.status(), 304, "{inm}");
            assert_eq!(res.headers()["etag"], tag.as_str());
            assert_eq!(res.headers()["vary"], "accept-encoding");
            assert!(!res.headers().contains_key("content-length"), "{inm}");
        }
        assert_eq!(s.compressor().unwrap().made(), 0);
    }
    // A date alone does not spare the work: the variant is made and sent.
    let date = ("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT");
    let res = get(&restarted, "/a.css", &[zstd, date]).await;
    assert_eq!(res.status(), 304);
    assert_eq!(restarted.compressor().unwrap().made(), 1);
    // Another coding's tag does not match: that coding is made and sent.
    let res = get(
        &uncached,
        "/a.css",
        &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(uncached.compressor().unwrap().made(), 1);
}

#[tokio::test]
async fn a_miss_without_a_free_permit_gets_identity_at_once() {
    use crate::store::{Hidden, Key, Store as _};
    let c = Compressor::new(Compress::new());
    let mut h = HeaderMap::new();
    h.insert("accept-encoding", HeaderValue::from_static("zstd"));
    let accept = AcceptEncoding::from_headers(&h);
    let key = Key::from_uri_path("/a.css", Hidden::Deny).unwrap();
    let store = MemoryStore::new().file("a.css", css(), UNIX_EPOCH);
    let select = || async {
        let entity = store.open(&key, &accept).await.unwrap();
        c.select(&Method::GET, &h, &accept, key.as_str(), entity)
            .await
    };
    // Every core busy coding something else.
    let n = c.permits.available_permits();
    assert!(n >= 1);
    let busy = c.permits.clone().try_acquire_many_owned(n as u32).unwrap();
    let e = select().await;
    assert_eq!(e.get_coding(), None);
    assert!(e.varies());
    assert_eq!(c.made(), 0);
    // Once one is free, the next request codes it, and gives the permit back.
    drop(busy);
    assert_eq!(select().await.get_coding(), Some(ContentCoding::Zstd));
    assert_eq!(c.made(), 1);
    assert_eq!(c.permits.available_permits(), n);
}
