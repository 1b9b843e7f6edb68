//! The client side: rustls trusting only the test's CA, and hyper's
//! connection-level HTTP/1.1 and HTTP/2 clients over any stream.
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A client configuration (ring) trusting only `roots`, offering `versions`
/// and the ALPN protocols `alpn` (none when empty).
pub(crate) fn config(
    roots: &[CertificateDer<'static>],
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut c =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// A TLS connection to `addr`, verifying the server as `name`.
pub(crate) async fn connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// The rustls error inside a failed handshake's `io::Error`.
pub(crate) fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn read(res: http::Response<hyper::body::Incoming>) -> Resp {
    let (parts, body) = res.into_parts();
    Resp {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A client connection, HTTP/1.1 or HTTP/2, over any stream.
#[derive(Clone)]
pub(crate) enum Sender {
    H1(Arc<tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
    H3(super::http3::Sender),
}

impl Sender {
    /// Opens HTTP/2 (with prior knowledge) or HTTP/1.1 on `io`.
    pub(crate) async fn open<I>(io: I, h2: bool) -> Sender
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            Sender::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            Sender::H1(Arc::new(tokio::sync::Mutex::new(send)))
        }
    }

    /// Closes an HTTP/3 connection now (its h3 driver holds it open
    /// otherwise); a TCP connection closes when the last clone is dropped.
    pub(crate) fn close(&self) {
        if let Sender::H3(h3) = self {
            h3.quic.close(0x100u32.into(), b"");
        }
    }

    /// Sends `req` and reads the whole response. HTTP/1.1 requests carry
    /// their own Host; HTTP/2 ones an absolute URI, for `:scheme` and
    /// `:authority`.
    pub(crate) async fn send(&self, req: Request<Empty<Bytes>>) -> Resp {
        let res = match self {
            Sender::H1(send) => {
                let mut send = send.lock().await;
                send.ready()
                    .await
                    .expect("the HTTP/1.1 connection is still open");
                let res = send.send_request(req).await.unwrap();
                // Read the body before the next request may use the connection.
                return read(res).await;
            }
            Sender::H2(send) => send.clone().send_request(req).await.unwrap(),
            Sender::H3(send) => return send.send(req).await,
        };
        read(res).await
    }
}

/// One request over HTTP/1.1 on `io`.
pub(crate) async fn h1<I>(io: I, req: Request<Empty<Bytes>>) -> Resp
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Sender::open(io, false).await.send(req).await
}

/// One request over HTTP/2 on `io`.
pub(crate) async fn h2<I>(io: I, req: Request<Empty<Bytes>>) -> Resp
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Sender::open(io, true).await.send(req).await
}
