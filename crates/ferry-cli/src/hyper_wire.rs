//! The wire layer for HTTPS (HTTP/2 and HTTP/1.1 by ALPN) and h2c: ferry's
//! own HTTP/2 ([`crate::h2`]) for applications that read no request bodies,
//! the HTTP/1.1 fast path ([`crate::h1`]) for HTTPS connections that are not
//! HTTP/2, hyper's codecs for the rest (HTTP/2 of `ferry proxy`, h2c's
//! HTTP/1.1), all over the same pipeline. Only framing differs: every answer
//! is the pipeline's, and every exchange is recorded by its observer with the
//! body bytes really sent.
use crate::h2::Sniffed;
use crate::net::Deadline;
use crate::observe::{Observer, Pending, Sent};
use crate::pipeline::{App, Pipeline, ReqBody};
use crate::settings::Settings;
use crate::tls::{Https, Proto};
use bytes::Bytes;
use ferry::Body;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;

/// The connection function of an HTTPS listener (with `https`) or an h2c one.
pub(crate) fn serve<A: App>(
    pipeline: Arc<Pipeline<A>>,
    s: &Settings,
    https: Option<Arc<Https>>,
) -> crate::net::Serve {
    let (header_timeout, max_head) = (s.header_timeout, s.max_head);
    let (idle, write) = (s.idle_timeout, s.write_timeout);
    let h1 = Arc::new(crate::h1::Shared::new(pipeline.clone(), s));
    Arc::new(move |stream, peer, stop| {
        let (pipeline, https, h1) = (pipeline.clone(), https.clone(), h1.clone());
        Box::pin(async move {
            let limits = (header_timeout, max_head, idle, write);
            // Closed with a lingering close (under TLS too, after its
            // close_notify): what the client still sends, such as an HTTP/2
            // WINDOW_UPDATE after the last DATA, is read instead of answered
            // with a reset that would destroy what it has not read yet.
            let io = crate::linger::Linger::new(stream);
            let own = crate::h2::Limits {
                max_head,
                idle,
                write,
            };
            match https {
                Some(h) => match h.accept(io, header_timeout).await {
                    Some((tls, Proto::H2)) if !A::READS_BODIES => {
                        crate::h2::connection(pipeline, tls, peer, stop, &own, true).await;
                    }
                    Some((tls, Proto::H1)) => {
                        let wire = crate::h1::wire::Tls::new(tls);
                        crate::h1::connection(&h1, wire, peer, stop).await;
                    }
                    Some((tls, proto)) => {
                        connection(pipeline, tls, proto, peer, stop, limits).await;
                    }
                    None => {}
                },
                None if !A::READS_BODIES => match crate::h2::sniff(io, header_timeout).await {
                    Some(Sniffed::H2(io)) => {
                        crate::h2::connection(pipeline, io, peer, stop, &own, false).await;
                    }
                    Some(Sniffed::H1(io)) => {
                        connection(pipeline, io, Proto::H1, peer, stop, limits).await;
                    }
                    None => {}
                },
                None => connection(pipeline, io, Proto::Any, peer, stop, limits).await,
            }
        })
    })
}

/// Serves one connection with hyper until it ends, or gracefully once
/// `stop` turns true.
async fn connection<A, I>(
    pipeline: Arc<Pipeline<A>>,
    io: I,
    proto: Proto,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    (header_timeout, max_head, idle, write): (Duration, usize, Duration, Duration),
) where
    A: App,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let busy = crate::net::Busy::default();
    let requests = busy.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let pipeline = pipeline.clone();
        let guard = requests.enter();
        async move {
            let _in_flight = guard;
            let mut req = req.map(ReqBody::hyper);
            let mut app = pipeline.app.conn();
            let (res, pending) = pipeline.respond(&mut app, &mut req, peer, None).await;
            let Some(pending) = pending else {
                return Ok::<_, Infallible>(res);
            };
            let status = res.status().as_u16();
            let observer = pipeline.observer.clone();
            Ok(res.map(|body| {
                Body::new(Observed {
                    body,
                    sent: 0,
                    record: Some((pending, observer, peer, status)),
                })
            }))
        }
    });
    let builder = builder(header_timeout, max_head, proto);
    let io = Deadline::new(io, idle, write, busy);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// hyper's HTTP/1.1 and HTTP/2 server with ferry's limits, speaking `proto`.
fn builder(
    header_timeout: Duration,
    max_head: usize,
    proto: Proto,
) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // hyper answers 431 when a head outgrows its read buffer (at least
    // 8 KiB); h2 refuses header lists above twice the limit (its own count
    // adds 32 bytes a field). Below those bounds the pipeline checks the
    // exact limit, so the 431 is the same as on every other listener.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(max_head.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_head.saturating_mul(2)).unwrap_or(u32::MAX));
    match proto {
        Proto::H1 => builder.http1_only(),
        Proto::H2 => builder.http2_only(),
        Proto::Any => builder,
    }
}

/// A response body that records its exchange when it is done (or dropped,
/// for a client that went away), with the bytes really sent.
struct Observed {
    body: Body,
    sent: u64,
    record: Option<(Pending, Observer, SocketAddr, u16)>,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let res = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &res {
            if let Some(d) = f.data_ref() {
                self.sent += d.len() as u64;
            }
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some((pending, observer, peer, status)) = self.record.take() {
            let sent = Sent {
                bytes: self.sent,
                zero_copy: false,
            };
            observer.finish(pending, peer, status, sent);
        }
    }
}
