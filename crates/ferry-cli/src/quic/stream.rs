//! One HTTP/3 request stream: the head read within `--header-timeout`, the
//! body handed to the application as it reads it, the pipeline's answer sent
//! frame by frame (each waiting for QUIC's flow control, so memory stays
//! bounded whatever the file's size), and the exchange recorded.
use super::{InFlight, Limits};
use crate::observe::Sent;
use crate::pipeline::{App, Pipeline, ReqBody, CONNECTION_SPECIFIC};
use bytes::{Buf as _, Bytes};
use futures_util::FutureExt as _;
use h3::error::Code;
use h3::server::{RequestResolver, RequestStream};
use http::{header, HeaderMap};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

type Resolver = RequestResolver<h3_quinn::Connection, Bytes>;
type SendHalf = RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;
type RecvHalf = RequestStream<h3_quinn::RecvStream, Bytes>;

/// Answers the request on one stream; `guard` counts it in flight until
/// its response is done.
pub(super) async fn request<A: App>(
    pipeline: Arc<Pipeline<A>>,
    resolver: Resolver,
    peer: SocketAddr,
    limits: Limits,
    guard: InFlight,
) {
    let _in_flight = guard;
    // A malformed head is h3's to answer (a stream or connection error,
    // RFC 9114 §4.1.2); a slow one is cut like HTTP/1.1's.
    let resolved = tokio::time::timeout(limits.handshake, resolver.resolve_request()).await;
    let Ok(Ok((req, stream))) = resolved else {
        return;
    };
    let (mut send, mut recv) = stream.split();
    let length = match check_head(req.headers()) {
        Ok(length) => length,
        Err(why) => {
            // As hyper's HTTP/2 (h2) does, the request is not answered: its
            // stream is reset (H3_MESSAGE_ERROR, RFC 9114 §4.1.2).
            tracing::debug!("malformed request: {why}");
            recv.stop_sending(Code::H3_MESSAGE_ERROR);
            send.stop_stream(Code::H3_MESSAGE_ERROR);
            return;
        }
    };
    // An application that reads no request body (`ferry serve`) never
    // touches the receive side; it is stopped once the answer is sent.
    let (body, unread) = if A::READS_BODIES {
        (request_body(length, recv), None)
    } else {
        (ReqBody::default(), Some(recv))
    };
    let mut req = req.map(|()| body);
    let mut app = pipeline.app.conn();
    let (res, pending) = pipeline.respond(&mut app, &mut req, peer, None).await;
    let status = res.status().as_u16();
    let (mut head, body) = res.into_parts();
    strip_connection_fields(&mut head.headers);
    let sent = respond(
        &mut send,
        http::Response::from_parts(head, ()),
        body,
        limits,
    )
    .await;
    // The request (and the receive half in its body, or `unread`) lives
    // until the answer is sent: the client's stream is stopped only then.
    drop(req);
    if let Some(mut recv) = unread {
        // See [`RecvBody`]'s Drop. quinn sends nothing if the request's
        // stream has already ended.
        recv.stop_sending(Code::H3_NO_ERROR);
    }
    if let Some(p) = pending {
        let sent = Sent {
            bytes: sent,
            zero_copy: false,
        };
        pipeline.observer.finish(p, peer, status, sent);
    }
}

/// Sends the head and then `body` a frame at a time, each within
/// `--write-timeout`; returns the body bytes handed to QUIC. A body that
/// fails or a client that stalls resets the stream, so a response cut short
/// never passes for a whole one.
async fn respond(
    send: &mut SendHalf,
    head: http::Response<()>,
    mut body: ferry::Body,
    limits: Limits,
) -> u64 {
    // The head waits for the client's flow control as the body does.
    match tokio::time::timeout(limits.write, send.send_response(head)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return 0,
        Err(_) => {
            tracing::debug!("write timeout");
            send.stop_stream(Code::H3_REQUEST_CANCELLED);
            return 0;
        }
    }
    let mut sent = 0u64;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                tracing::debug!("response body failed: {e}");
                send.stop_stream(Code::H3_INTERNAL_ERROR);
                return sent;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let n = data.len() as u64;
        match tokio::time::timeout(limits.write, send.send_data(data)).await {
            Ok(Ok(())) => sent += n,
            Ok(Err(_)) => return sent,
            Err(_) => {
                tracing::debug!("write timeout");
                send.stop_stream(Code::H3_REQUEST_CANCELLED);
                return sent;
            }
        }
    }
    match tokio::time::timeout(limits.write, send.finish()).await {
        Ok(_) => {}
        Err(_) => send.stop_stream(Code::H3_REQUEST_CANCELLED),
    }
    sent
}

/// RFC 9114 §4.2: "An endpoint MUST NOT generate an HTTP/3 field section
/// containing connection-specific fields", such as a `Connection: close`
/// the pipeline sets on its short answers for HTTP/1.1.
fn strip_connection_fields(h: &mut HeaderMap) {
    for name in &CONNECTION_SPECIFIC {
        h.remove(name);
    }
}

/// Whether a request with these fields is malformed by RFC 9114 §4.2 (h3
/// checks the pseudo-header fields, not these).
fn connection_specific(h: &HeaderMap) -> bool {
    // "… any message containing connection-specific fields MUST be treated
    // as malformed. The only exception to this is the TE header field,
    // which MAY be present in an HTTP/3 request header; when it is, it MUST
    // NOT contain any value other than "trailers"."
    CONNECTION_SPECIFIC.iter().any(|n| h.contains_key(n))
        || h.get_all(header::TE).iter().any(|v| v != "trailers")
}

/// The request body's Content-Length, if given; why the request is
/// malformed (RFC 9114 §4.1.2) if it has a connection-specific field or an
/// invalid Content-Length.
fn check_head(headers: &HeaderMap) -> Result<Option<u64>, &'static str> {
    if connection_specific(headers) {
        return Err("a connection-specific field");
    }
    let mut fields = crate::framing::Fields::default();
    for value in headers.get_all(header::CONTENT_LENGTH) {
        if fields
            .see(&header::CONTENT_LENGTH, value.as_bytes())
            .is_err()
        {
            return Err("Content-Length");
        }
    }
    Ok(fields.length)
}

/// The body of a request, read from `recv`, held to `left` (its
/// Content-Length) if given.
fn request_body(left: Option<u64>, mut recv: RecvHalf) -> ReqBody {
    // Without a length, a client that sent no body has usually ended the
    // stream with its head: the empty body GETs have on every transport.
    let (mut ahead, mut reading) = (None, false);
    if left.is_none() {
        match recv.recv_data().now_or_never() {
            Some(Ok(None)) => return ReqBody::default(),
            Some(Ok(Some(mut b))) => ahead = Some(Ok(b.copy_to_bytes(b.remaining()))),
            Some(Err(e)) => ahead = Some(Err(e)),
            None => reading = true,
        }
    }
    ReqBody::boxed(RecvBody {
        recv,
        left,
        ahead,
        ended: false,
        reading,
    })
}

/// A request body read from its stream as the application asks for it
/// (QUIC's flow control holds the client back until then), held to its
/// Content-Length.
struct RecvBody {
    recv: RecvHalf,
    /// What Content-Length declares is still to come, if it was given.
    left: Option<u64>,
    /// What the look for an ended stream read, when Content-Length was not
    /// given (see [`request_body`]).
    ahead: Option<Result<Bytes, h3::error::StreamError>>,
    ended: bool,
    /// Whether a read is pending: h3-quinn then holds quinn's stream in
    /// its read future, and the stream cannot be stopped.
    reading: bool,
}

impl RecvBody {
    /// The frame for what the stream gave.
    fn took(
        &mut self,
        got: Result<Option<Bytes>, h3::error::StreamError>,
    ) -> Option<Result<Frame<Bytes>, io::Error>> {
        self.reading = false;
        match got {
            Ok(Some(b)) => {
                if let Some(left) = &mut self.left {
                    match left.checked_sub(b.len() as u64) {
                        Some(l) => *left = l,
                        None => return self.malformed("more DATA than Content-Length"),
                    }
                }
                Some(Ok(Frame::data(b)))
            }
            Ok(None) => {
                self.ended = true;
                if self.left.is_some_and(|l| l > 0) {
                    return self.malformed("less DATA than Content-Length");
                }
                None
            }
            // A reset stream or a lost connection: never a body cut short
            // passed on as a complete one.
            Err(e) => {
                self.ended = true;
                Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, e)))
            }
        }
    }

    /// RFC 9114 §4.1.2: "A request or response that is defined as having
    /// content when it contains a Content-Length header field is malformed
    /// if the value of the Content-Length header field does not equal the
    /// sum of the DATA frame lengths received", and malformed requests are
    /// a stream error of type H3_MESSAGE_ERROR. The application sees a
    /// failed body (the proxy answers 400).
    fn malformed(&mut self, why: &'static str) -> Option<Result<Frame<Bytes>, io::Error>> {
        tracing::debug!("malformed request: {why}");
        self.ended = true;
        self.recv.stop_sending(Code::H3_MESSAGE_ERROR);
        Some(Err(io::Error::new(io::ErrorKind::InvalidData, why)))
    }
}

/// RFC 9114 §4.1: "When the server does not need to receive the remainder
/// of the request, it MAY abort reading the request stream, send a complete
/// response, and cleanly close the sending part of the stream. The error code
/// H3_NO_ERROR SHOULD be used when requesting that the client stop sending on
/// the request stream." Left to quinn, a receive half dropped unread stops
/// the stream with code 0, which is no HTTP/3 code at all.
impl Drop for RecvBody {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.reading {
            // One more look brings quinn's stream back if its read is done
            // (the request's end has usually arrived by the answer's end).
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match self.recv.poll_recv_data(&mut cx) {
                Poll::Ready(Ok(Some(_))) => {}
                // Ended or reset: nothing to stop. Still pending: quinn
                // stops it, with its code 0, as the read future drops.
                Poll::Ready(_) | Poll::Pending => return,
            }
        }
        self.recv.stop_sending(Code::H3_NO_ERROR);
    }
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(got) = self.ahead.take() {
            return Poll::Ready(self.took(got.map(Some)));
        }
        self.reading = true;
        let got = match self.recv.poll_recv_data(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(got) => got.map(|b| b.map(|mut b| b.copy_to_bytes(b.remaining()))),
        };
        Poll::Ready(self.took(got))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.left == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(if self.ended { 0 } else { n }),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_specific_fields_are_not_sent_rfc_9114_4_2() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "close".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::CONTENT_LENGTH, "3".parse().unwrap());
        strip_connection_fields(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h[header::CONTENT_LENGTH], "3");
    }

    #[test]
    fn connection_specific_request_fields_are_malformed_rfc_9114_4_2() {
        for (name, value, malformed) in [
            ("connection", "close", true),
            ("keep-alive", "timeout=5", true),
            ("proxy-connection", "keep-alive", true),
            ("transfer-encoding", "chunked", true),
            ("upgrade", "websocket", true),
            ("te", "gzip", true),
            ("te", "trailers, gzip", true),
            ("te", "trailers", false),
            ("content-length", "3", false),
            ("proxy-authorization", "Basic eDp5", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                header::HeaderName::from_static(name),
                value.parse().unwrap(),
            );
            assert_eq!(connection_specific(&h), malformed, "{name}: {value}");
        }
    }
}
