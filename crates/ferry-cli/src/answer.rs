//! ferry's own short answers (400, 421, 431, 505, the health check, the
//! redirect listener's 308, the proxy's 404/413/502/504, a site policy's
//! 301/302/307/308, 401, 403, 503): one builder, so
//! every listener and protocol sends the same fields.
use ferry::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::time::SystemTime;

/// A short plain-text answer: Date, a length, `no-store`, `nosniff`; no body
/// for HEAD. The text is the status line's code and reason.
pub(crate) fn text(status: StatusCode, method: &Method) -> Response<Body> {
    let body = reason(status);
    let mut res = Response::new(if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    });
    *res.status_mut() = status;
    let h = res.headers_mut();
    date(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Sets `Date` to now (RFC 9110 §6.6.1).
pub(crate) fn date(h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::try_from(ferry::proto::date::fmt_http_date(SystemTime::now())) {
        h.insert(header::DATE, v);
    }
}

/// The body of [`text`]: `"404 Not Found\n"`.
fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "ok\n",
        301 => "301 Moved Permanently\n",
        302 => "302 Found\n",
        307 => "307 Temporary Redirect\n",
        308 => "308 Permanent Redirect\n",
        400 => "400 Bad Request\n",
        401 => "401 Unauthorized\n",
        403 => "403 Forbidden\n",
        404 => "404 Not Found\n",
        405 => "405 Method Not Allowed\n",
        413 => "413 Content Too Large\n",
        421 => "421 Misdirected Request\n",
        431 => "431 Request Header Fields Too Large\n",
        500 => "500 Internal Server Error\n",
        502 => "502 Bad Gateway\n",
        504 => "504 Gateway Timeout\n",
        501 => "501 Not Implemented\n",
        503 => "503 Service Unavailable\n",
        505 => "505 HTTP Version Not Supported\n",
        _ if status.is_client_error() => "400 Bad Request\n",
        _ => "500 Internal Server Error\n",
    }
}

/// An answer after which the connection closes (a head ferry could not or
/// would not read: 400, 431, 505; a body it would not take: 413).
pub(crate) fn closing(status: StatusCode) -> Response<Body> {
    let mut res = text(status, &Method::GET);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The `--health-check` answer: `200 ok` to GET and HEAD, 405 otherwise.
pub(crate) fn health(method: &Method) -> Response<Body> {
    if !ferry::proto::plan::allows(method) {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, method);
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    text(StatusCode::OK, method)
}
