//! Host names as requests carry them (RFC 9112 §3.2, RFC 3986 §3.2.2).

/// RFC 9112 §3.2 / RFC 3986 §3.2.2: Host is `uri-host [ ":" port ]`, so only
/// unreserved, sub-delims, `%`, `:` and IP-literal brackets; empty is allowed.
pub(crate) fn valid(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`.
pub(crate) fn strip_port(h: &str) -> &str {
    match h.rfind(':') {
        Some(i) if !h[i..].contains(']') => &h[..i],
        _ => h,
    }
}
