//! The HTTP/3 client side: quinn (QUIC, rustls with ring, trusting only the
//! test's CA) and h3's client, for the behaviour table and the HTTP/3 tests.
use super::client::{self, Resp};
use bytes::{Buf as _, Bytes, BytesMut};
use http::Request;
use http_body_util::Empty;
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;

/// An HTTP/3 connection: requests go out concurrently on their own streams.
#[derive(Clone)]
pub(crate) struct Sender {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    /// The QUIC connection, for its close reason.
    pub(crate) quic: quinn::Connection,
    /// Kept for the connection's life.
    _endpoint: quinn::Endpoint,
}

/// QUIC's client configuration: trusts only `roots`, offers ALPN `h3`.
pub(crate) fn client_config(roots: &[CertificateDer<'static>]) -> quinn::ClientConfig {
    let tls = client::config(roots, &[&rustls::version::TLS13], &[b"h3"]);
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    quinn::ClientConfig::new(Arc::new(quic))
}

/// An HTTP/3 connection to UDP `addr`, verifying the server as `name`.
pub(crate) async fn connect(
    addr: SocketAddr,
    name: &str,
    roots: &[CertificateDer<'static>],
) -> Result<Sender, String> {
    connect_with(addr, name, client_config(roots)).await
}

/// As [`connect`], with `config` (its transport settings, say).
pub(crate) async fn connect_with(
    addr: SocketAddr,
    name: &str,
    config: quinn::ClientConfig,
) -> Result<Sender, String> {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(config);
    let quic = ep
        .connect(addr, name)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quic.clone()))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    Ok(Sender {
        send,
        quic,
        _endpoint: ep,
    })
}

/// A request stream whose response is read as the test asks.
pub(crate) type Stream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

impl Sender {
    /// Sends `req`'s head only: its body is the caller's to send, and the
    /// stream's to finish.
    pub(crate) async fn start(&self, req: Request<Empty<Bytes>>) -> Stream {
        self.try_start(req).await.unwrap()
    }

    /// Sends `req` and returns its stream once the response head is in.
    pub(crate) async fn open(&self, req: Request<Empty<Bytes>>) -> (http::Response<()>, Stream) {
        self.try_open(req, &[]).await.unwrap()
    }

    /// Sends `req` (an absolute URI: `:scheme` and `:authority`) and reads
    /// the whole response.
    pub(crate) async fn send(&self, req: Request<Empty<Bytes>>) -> Resp {
        self.try_send(req).await.unwrap()
    }

    /// Sends `req` with `body` (in two DATA frames) and reads the response.
    pub(crate) async fn send_body(&self, req: Request<Empty<Bytes>>, body: &[u8]) -> Resp {
        self.try_send_body(req, body).await.unwrap()
    }

    /// As [`Sender::send`], or the stream's or connection's error.
    pub(crate) async fn try_send(&self, req: Request<Empty<Bytes>>) -> Result<Resp, String> {
        self.try_send_body(req, &[]).await
    }

    async fn try_start(&self, req: Request<Empty<Bytes>>) -> Result<Stream, String> {
        let (parts, _) = req.into_parts();
        let mut send = self.send.clone();
        send.send_request(Request::from_parts(parts, ()))
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends `req`, then `body` (in two DATA frames; none if it is empty),
    /// ends the stream, and waits for the response head.
    async fn try_open(
        &self,
        req: Request<Empty<Bytes>>,
        body: &[u8],
    ) -> Result<(http::Response<()>, Stream), String> {
        let mut stream = self.try_start(req).await?;
        // A server may answer before the request's end and stop reading
        // (RFC 9114 §4.1), so sending can fail on a stream whose answer is
        // whole: "Clients MUST NOT discard complete responses as a result of
        // having their request terminated abruptly". Its error is the one
        // reported only if no response comes.
        let mut sent = Ok(());
        if !body.is_empty() {
            let (a, b) = body.split_at(body.len() / 2);
            for part in [a, b] {
                sent = stream.send_data(Bytes::copy_from_slice(part)).await;
                if sent.is_err() {
                    break;
                }
            }
        }
        if sent.is_ok() {
            sent = stream.finish().await;
        }
        match stream.recv_response().await {
            Ok(res) => Ok((res, stream)),
            Err(e) => Err(sent.err().unwrap_or(e).to_string()),
        }
    }

    async fn try_send_body(&self, req: Request<Empty<Bytes>>, body: &[u8]) -> Result<Resp, String> {
        let (res, mut stream) = self.try_open(req, body).await?;
        let mut got = BytesMut::new();
        while let Some(mut chunk) = stream.recv_data().await.map_err(|e| e.to_string())? {
            got.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        let (parts, ()) = res.into_parts();
        Ok(Resp {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: got.freeze(),
        })
    }
}

/// Reads from `stream` until at least `n` more bytes are in `into`, or its end.
pub(crate) async fn read_at_least(stream: &mut Stream, into: &mut Vec<u8>, n: usize) {
    let want = into.len() + n;
    while into.len() < want {
        match stream.recv_data().await.unwrap() {
            Some(mut chunk) => into.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining())),
            None => return,
        }
    }
}

/// The leaf certificate the server presented on `h3`'s handshake.
pub(crate) fn presented(h3: &Sender) -> CertificateDer<'static> {
    let chain = h3
        .quic
        .peer_identity()
        .unwrap()
        .downcast::<Vec<CertificateDer<'static>>>()
        .unwrap();
    chain[0].clone()
}
