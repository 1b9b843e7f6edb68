//! The six transports of the behaviour table, and what "the same answer"
//! means across them.
use super::{client, http3};
use super::{Ca, Ferry, H2, HTTP11};
use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Empty;
use rustls::version::TLS13;
use std::collections::BTreeMap;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `ferry serve DIR`: the hand-written HTTP/1.1 server.
    FastH1,
    /// `ferry serve DIR --tls-cert …`, ALPN h2.
    TlsH2,
    /// `ferry serve DIR --tls-cert …`, ALPN http/1.1.
    TlsH1,
    /// `ferry serve DIR --h2c`, HTTP/2 with prior knowledge over TCP.
    H2c,
    /// `ferry serve DIR --h2c`, HTTP/1.1 on the same port.
    H2cPortH1,
    /// `ferry serve DIR --tls-cert …`, HTTP/3 over QUIC on the same port (UDP).
    H3,
}

pub(crate) const TRANSPORTS: [Transport; 6] = [
    Transport::FastH1,
    Transport::TlsH2,
    Transport::TlsH1,
    Transport::H2c,
    Transport::H2cPortH1,
    Transport::H3,
];

/// One request and what its answer must be on every transport.
pub(crate) struct Row<'a> {
    pub(crate) name: &'static str,
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) check: Box<dyn Fn(&client::Resp) + 'a>,
}

pub(crate) fn row<'a>(
    name: &'static str,
    method: Method,
    path: &'static str,
    headers: &[(&'static str, &str)],
    check: impl Fn(&client::Resp) + 'a,
) -> Row<'a> {
    Row {
        name,
        method,
        path,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        check: Box::new(check),
    }
}

/// Fails the test listing every failure, if there is any.
pub(crate) fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The three servers over one directory, so validators are the same.
pub(crate) struct Servers {
    pub(crate) fast: Ferry,
    pub(crate) tls: Ferry,
    pub(crate) h2c: Ferry,
    pub(crate) root: Ca,
}

impl Servers {
    pub(crate) fn is_h2(t: Transport) -> bool {
        matches!(t, Transport::TlsH2 | Transport::H2c)
    }

    /// Requests in parallel on one connection, with an absolute URI
    /// (`:scheme` and `:authority`): HTTP/2 and HTTP/3.
    pub(crate) fn multiplexed(t: Transport) -> bool {
        Self::is_h2(t) || t == Transport::H3
    }

    /// A new connection over transport `t`.
    pub(crate) async fn connect(&self, t: Transport) -> client::Sender {
        let h2 = Self::is_h2(t);
        match t {
            Transport::H3 => {
                let h3 = http3::connect(self.tls.addr, "localhost", &[self.root.der()])
                    .await
                    .unwrap();
                client::Sender::H3(h3)
            }
            Transport::TlsH2 | Transport::TlsH1 => {
                let alpn = if h2 { H2 } else { HTTP11 };
                let config = client::config(&[self.root.der()], &[&TLS13], &[alpn]);
                let tls = client::connect(self.tls.addr, "localhost", config)
                    .await
                    .unwrap();
                client::Sender::open(tls, h2).await
            }
            Transport::FastH1 | Transport::H2c | Transport::H2cPortH1 => {
                let f = if t == Transport::FastH1 {
                    &self.fast
                } else {
                    &self.h2c
                };
                let tcp = TcpStream::connect(f.addr).await.unwrap();
                client::Sender::open(tcp, h2).await
            }
        }
    }

    /// The request of `row` as transport `t` carries it.
    pub(crate) fn request(
        &self,
        t: Transport,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> Request<Empty<Bytes>> {
        let (f, scheme) = match t {
            Transport::FastH1 => (&self.fast, "http"),
            Transport::TlsH2 | Transport::TlsH1 | Transport::H3 => (&self.tls, "https"),
            Transport::H2c | Transport::H2cPortH1 => (&self.h2c, "http"),
        };
        // HTTP/2 carries the authority in `:authority` (an absolute URI);
        // HTTP/1.1 in Host (origin-form, RFC 9112 §3.2.1).
        let mut req = if Self::multiplexed(t) {
            Request::builder().uri(format!("{scheme}://localhost:{}{}", f.addr.port(), path))
        } else {
            Request::builder().uri(path).header("host", "localhost")
        }
        .method(method.clone());
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        req.body(Empty::new()).unwrap()
    }

    /// `row` on a connection of its own over every transport: each answer
    /// checked by the row and compared with the fast path's, what fails
    /// pushed to `failures`. The answers, in `TRANSPORTS` order.
    pub(crate) async fn check_row(
        &self,
        row: &Row<'_>,
        failures: &mut Vec<String>,
    ) -> Vec<client::Resp> {
        let mut per: Vec<client::Resp> = Vec::new();
        for t in TRANSPORTS {
            let r = self.send(t, &row.method, row.path, &row.headers).await;
            let what = format!("{} over {t:?}", row.name);
            if let Err(e) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (row.check)(&r)))
            {
                let text = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{what}: {text}"));
            }
            if let Some(r0) = per.first() {
                let (a, b) = (normalize(r0), normalize(&r));
                if a != b {
                    failures.push(format!(
                        "{what} differs from FastH1:\n  FastH1: {a:?}\n  {t:?}: {b:?}"
                    ));
                }
            }
            per.push(r);
        }
        per
    }

    /// [`Servers::check_row`] for every row; what failed.
    pub(crate) async fn check_rows(&self, rows: &[Row<'_>]) -> Vec<String> {
        let mut failures = Vec::new();
        for row in rows {
            self.check_row(row, &mut failures).await;
        }
        failures
    }

    /// `row` on a connection of its own.
    pub(crate) async fn send(
        &self,
        t: Transport,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> client::Resp {
        let req = self.request(t, method, path, headers);
        let res = self.connect(t).await.send(req).await;
        let want = match t {
            Transport::H3 => Version::HTTP_3,
            _ if Self::is_h2(t) => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
        assert_eq!(res.version, want, "{t:?} spoke another version");
        res
    }
}

/// What must be equal across transports: status, header fields and body.
///
/// Left out, each for a reason:
/// - `date`: the origin's clock when the response was generated (RFC 9110
///   §6.6.1); two requests may straddle a second.
/// - `connection`, `keep-alive`, `transfer-encoding`: connection-specific
///   fields (RFC 9110 §7.6.1), which HTTP/2 and HTTP/3 forbid (RFC 9113
///   §8.2.2, RFC 9114 §4.2); on HTTP/1.1 they are framing choices of the
///   hop, not of the representation.
/// - `alt-svc`: the HTTPS listener's advertisement of HTTP/3 (RFC 7838),
///   about the origin's endpoints, not the representation; checked on its
///   own (`alt_svc_*` tests).
///
/// Content-Length is compared, not excluded: ferry sets it on every response
/// whose length it knows, hyper's HTTP/2 server passes an explicit one through
/// (RFC 9113 §8.1.1 allows it), and a HEAD or 304 keeps what GET would send
/// (RFC 9110 §8.6). Its absence on one transport would be a finding.
///
/// The multipart boundary is random per response (as it should be, so a
/// file's content cannot forge one), so it is replaced by `BOUNDARY` in
/// Content-Type and body before comparing.
pub(crate) fn normalize(r: &client::Resp) -> (StatusCode, BTreeMap<String, Vec<String>>, Vec<u8>) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &r.headers {
        if matches!(
            k.as_str(),
            "date" | "connection" | "keep-alive" | "transfer-encoding" | "alt-svc"
        ) {
            continue;
        }
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let mut body = r.body.to_vec();
    if let Some(b) = boundary(r) {
        let b = b.to_string();
        for v in headers.get_mut("content-type").unwrap() {
            *v = v.replace(&b, "BOUNDARY");
        }
        body = replace(&body, b.as_bytes(), b"BOUNDARY");
    }
    (r.status, headers, body)
}

pub(crate) fn boundary(r: &client::Resp) -> Option<&str> {
    r.header("content-type")?
        .strip_prefix("multipart/byteranges; boundary=")
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// One part of a multipart/byteranges body: its header fields (names in
/// lower case) and its bytes.
pub(crate) type Part = (Vec<(String, String)>, Vec<u8>);

/// Splits a multipart/byteranges body (RFC 9110 §14.6) into its parts'
/// header fields and bytes; panics on a framing error.
pub(crate) fn parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delim = format!("--{boundary}");
    let close = format!("\r\n--{boundary}--\r\n");
    assert!(
        body.starts_with(delim.as_bytes()),
        "starts with the boundary"
    );
    assert!(
        body.ends_with(close.as_bytes()),
        "ends with the close delimiter"
    );
    let inner = &body[..body.len() - close.len()];
    let sep = format!("\r\n--{boundary}\r\n");
    let first = &inner[delim.len() + 2..];
    let mut out = Vec::new();
    for chunk in split(first, sep.as_bytes()) {
        let at = chunk
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a part head");
        let head = std::str::from_utf8(&chunk[..at]).unwrap();
        let fields = head
            .split("\r\n")
            .map(|l| {
                let (k, v) = l.split_once(':').expect("a field line");
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        out.push((fields, chunk[at + 4..].to_vec()));
    }
    out
}

fn split<'a>(hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= hay.len() {
        if &hay[i..i + sep.len()] == sep {
            out.push(&hay[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&hay[start..]);
    out
}
