//! Host names as requests carry them (RFC 9112 §3.2, RFC 3986 §3.2.2).

/// RFC 9112 §3.2 / RFC 3986 §3.2.2: Host is `uri-host [ ":" port ]`, so only
/// unreserved, sub-delims, `%`, `:` and IP-literal brackets; empty is allowed.
pub(crate) fn valid(v: &[u8]) -> bool {
    // A table: this runs on every request.
    const ALLOWED: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric()
                || matches!(
                    c,
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
                );
            b += 1;
        }
        t
    };
    v.iter().all(|&b| ALLOWED[usize::from(b)])
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`.
pub(crate) fn strip_port(h: &str) -> &str {
    match h.rfind(':') {
        Some(i) if !h[i..].contains(']') => &h[..i],
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_bytes_are_those_of_rfc_3986_authority_without_userinfo() {
        // unreserved, pct-encoded's '%', sub-delims, ':' for the port and
        // the brackets of an IP-literal.
        let allowed: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\
            -._~%!$&'()*+,;=:[]";
        for b in 0..=255u8 {
            assert_eq!(super::valid(&[b]), allowed.contains(&b), "byte {b}");
        }
        assert!(super::valid(b""));
        assert!(!super::valid(b"a@b"));
    }
}
