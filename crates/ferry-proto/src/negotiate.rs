//! Accept-Encoding ([RFC 9110 §12.5.3]) with qvalues ([RFC 9110 §12.4.2]):
//! which precompressed variant a request accepts.
//!
//! [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
//! [RFC 9110 §12.4.2]: https://www.rfc-editor.org/rfc/rfc9110#section-12.4.2
use http::{header, HeaderMap};

/// A content coding ferry can serve as a precompressed variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCoding {
    /// Brotli (`.br`).
    Br,
    /// Zstandard (`.zst`).
    Zstd,
    /// gzip (`.gz`).
    Gzip,
}

impl ContentCoding {
    /// All, in default preference order: br > zstd > gzip.
    pub const ALL: [ContentCoding; 3] =
        [ContentCoding::Br, ContentCoding::Zstd, ContentCoding::Gzip];

    /// The token for Content-Encoding: `br`, `zstd`, `gzip`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCoding::Br => "br",
            ContentCoding::Zstd => "zstd",
            ContentCoding::Gzip => "gzip",
        }
    }

    /// The file suffix of the variant: `.br`, `.zst`, `.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            ContentCoding::Br => ".br",
            ContentCoding::Zstd => ".zst",
            ContentCoding::Gzip => ".gz",
        }
    }

    /// The coding's position in [`ContentCoding::ALL`], for tables with an
    /// entry per coding.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry_proto::ContentCoding;
    /// for (i, c) in ContentCoding::ALL.into_iter().enumerate() {
    ///     assert_eq!(c.index(), i);
    /// }
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A parsed Accept-Encoding (all its field lines).
///
/// Choice: with no Accept-Encoding at all, §12.5.3 says any coding is
/// acceptable, but clients that send none (curl, scripts) rarely decode; like
/// nginx, Caddy and whitenoise, ferry then sends identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// q×1000 per coding in `ContentCoding::ALL` order; `None` = not listed.
    q: [Option<u16>; 3],
    identity: Option<u16>,
    star: Option<u16>,
}

/// The longest Accept-Encoding value [`AcceptEncoding::from_headers`] keeps
/// its last parse of.
const LAST_MAX: usize = 64;

thread_local! {
    /// The last single-line value parsed on this thread (its bytes and
    /// length) and what it parsed to.
    static LAST: std::cell::RefCell<([u8; LAST_MAX], usize, AcceptEncoding)> =
        const { std::cell::RefCell::new(([0; LAST_MAX], 0, AcceptEncoding {
            q: [None; 3],
            identity: None,
            star: None,
        })) };
}

/// Parses a qvalue (§12.4.2): `0`, `0.ddd`, `1`, `1.000`. `None` if malformed.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int[0] {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl AcceptEncoding {
    /// Parses all Accept-Encoding field lines.
    ///
    /// Members with a malformed weight are dropped (choice: ignoring the member
    /// never enables a coding the client did not clearly accept). When a coding
    /// is listed twice, the highest weight wins.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut lines = headers.get_all(header::ACCEPT_ENCODING).iter();
        match (lines.next(), lines.next()) {
            (None, _) => AcceptEncoding::default(),
            // One line, as browsers send: the same bytes as this thread's
            // last parse give its result (a browser repeats its value on
            // every request).
            (Some(v), None) if v.len() <= LAST_MAX => LAST.with(|last| {
                let mut last = last.borrow_mut();
                let (bytes, len, parsed) = &mut *last;
                if *len == v.len() && bytes[..*len] == *v.as_bytes() {
                    return parsed.clone();
                }
                let a = Self::parse([v]);
                bytes[..v.len()].copy_from_slice(v.as_bytes());
                *len = v.len();
                *parsed = a.clone();
                a
            }),
            _ => Self::parse(headers.get_all(header::ACCEPT_ENCODING)),
        }
    }

    fn parse<'a>(lines: impl IntoIterator<Item = &'a http::HeaderValue>) -> Self {
        let mut a = AcceptEncoding::default();
        for v in lines {
            for item in crate::list::split(v.as_bytes()) {
                let mut params = item.split(|&b| b == b';');
                let coding = crate::list::trim(params.next().unwrap_or(b""));
                let mut q = Some(1000);
                for p in params {
                    let p = crate::list::trim(p);
                    if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                        q = qvalue(&p[2..]);
                    }
                }
                let Some(q) = q else { continue };
                let slot = if coding.eq_ignore_ascii_case(b"br") {
                    &mut a.q[0]
                } else if coding.eq_ignore_ascii_case(b"zstd") {
                    &mut a.q[1]
                } else if coding.eq_ignore_ascii_case(b"gzip")
                    || coding.eq_ignore_ascii_case(b"x-gzip")
                {
                    &mut a.q[2]
                } else if coding.eq_ignore_ascii_case(b"identity") {
                    &mut a.identity
                } else if coding == b"*" {
                    &mut a.star
                } else {
                    continue;
                };
                *slot = Some(slot.map_or(q, |old| old.max(q)));
            }
        }
        a
    }

    /// The weight of `c`: its own entry, else `*`'s, else 0 (§12.5.3).
    fn weight(&self, c: ContentCoding) -> u16 {
        self.q[c.index()].or(self.star).unwrap_or(0)
    }

    /// The weight of `c` when it is acceptable: above 0 (§12.4.2) and not
    /// below an explicit `identity;q=…` (§12.5.3; a tie goes to the coding,
    /// the smaller transfer).
    fn acceptable(&self, c: ContentCoding) -> Option<u16> {
        let w = self.weight(c);
        (w > 0 && self.identity.is_none_or(|qi| w >= qi)).then_some(w)
    }

    /// Acceptable codings, best first: by qvalue, ties in br > zstd > gzip order.
    /// `q=0` means "not acceptable" (§12.4.2). A coding the client weighs below
    /// an explicit `identity;q=…` is left out: it prefers the bytes as they are
    /// (§12.5.3); on a tie the smaller transfer wins.
    pub fn preferred(&self) -> impl Iterator<Item = ContentCoding> + '_ {
        let mut order = ContentCoding::ALL;
        // A stable sort keeps br > zstd > gzip among equal weights.
        order.sort_by_key(|&c| std::cmp::Reverse(self.weight(c)));
        order
            .into_iter()
            .filter(move |&c| self.acceptable(c).is_some())
    }

    /// The acceptable coding with the highest weight among `order`, ties going
    /// to the earlier one in `order`; `None` when none is acceptable.
    ///
    /// The same rules as [`AcceptEncoding::preferred`] (`q=0` excludes, a
    /// coding weighed below an explicit `identity;q=…` is left out,
    /// [RFC 9110 §12.5.3]), with the server's own order for ties: on-the-fly
    /// compression prefers zstd, which compresses as well as brotli's fast
    /// levels in a fraction of the time.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry_proto::{AcceptEncoding, ContentCoding::{Br, Gzip, Zstd}};
    /// let mut h = http::HeaderMap::new();
    /// h.insert("accept-encoding", "gzip, br, zstd".parse().unwrap());
    /// let a = AcceptEncoding::from_headers(&h);
    /// assert_eq!(a.preferred_in(&[Zstd, Br, Gzip]), Some(Zstd));
    /// h.insert("accept-encoding", "gzip, br;q=0.9, zstd;q=0.5".parse().unwrap());
    /// let a = AcceptEncoding::from_headers(&h);
    /// assert_eq!(a.preferred_in(&[Zstd, Br, Gzip]), Some(Gzip));
    /// ```
    ///
    /// [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
    pub fn preferred_in(&self, order: &[ContentCoding]) -> Option<ContentCoding> {
        let mut best: Option<(ContentCoding, u16)> = None;
        for &c in order {
            let Some(w) = self.acceptable(c) else {
                continue;
            };
            if best.is_none_or(|(_, bw)| w > bw) {
                best = Some((c, w));
            }
        }
        best.map(|(c, _)| c)
    }

    /// Whether identity is acceptable: not excluded by `identity;q=0`, nor by
    /// `*;q=0` without a more specific entry for identity (§12.5.3).
    pub fn identity_acceptable(&self) -> bool {
        match (self.identity, self.star) {
            (Some(q), _) => q > 0,
            (None, Some(q)) => q > 0,
            (None, None) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::{Br, Gzip, Zstd};

    fn parse(v: &str) -> AcceptEncoding {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
        AcceptEncoding::from_headers(&h)
    }

    proptest::proptest! {
        /// The thread's last-value memo never changes an answer: any
        /// sequence of values (repeats included) parses as each alone.
        #[test]
        fn the_last_value_memo_gives_the_parse(
            picks in proptest::collection::vec(0usize..6, 1..20),
            extra in "[a-z0-9=.;, ]{0,70}",
        ) {
            let values = ["", "gzip", "br;q=0", "gzip, br", "identity", extra.as_str()];
            for i in picks {
                let Ok(v) = http::HeaderValue::from_str(values[i]) else { continue };
                let mut h = HeaderMap::new();
                h.insert(header::ACCEPT_ENCODING, v.clone());
                proptest::prop_assert_eq!(
                    AcceptEncoding::from_headers(&h),
                    AcceptEncoding::parse([&v])
                );
            }
        }
    }

    #[test]
    fn negotiation_rfc9110_12_5_3() {
        for (v, want, identity) in [
            // "Accept-Encoding: compress, gzip" — gzip acceptable.
            ("compress, gzip", vec![Gzip], true),
            // "Accept-Encoding:" (empty) — only identity.
            ("", vec![], true),
            // "Accept-Encoding: *" — any coding.
            ("*", vec![Br, Zstd, Gzip], true),
            // "Accept-Encoding: compress;q=0.5, gzip;q=1.0"
            ("compress;q=0.5, gzip;q=1.0", vec![Gzip], true),
            // "Accept-Encoding: gzip;q=1.0, identity; q=0.5, *;q=0"
            ("gzip;q=1.0, identity; q=0.5, *;q=0", vec![Gzip], true),
            ("gzip, deflate, br, zstd", vec![Br, Zstd, Gzip], true),
            ("gzip, deflate, br", vec![Br, Gzip], true),
            ("br;q=0.5, gzip", vec![Gzip, Br], true),
            ("br;q=0, gzip;q=0", vec![], true),
            ("*;q=0.1, br;q=0", vec![Zstd, Gzip], true),
            ("identity;q=0", vec![], false),
            ("*;q=0", vec![], false),
            ("*;q=0, identity", vec![], true),
            ("x-gzip", vec![Gzip], true),
            ("GZIP;Q=0.8, BR;q=0.9", vec![Br, Gzip], true),
            ("br;q=2, gzip;q=0.x, zstd;q=0.001", vec![Zstd], true),
            ("br;q=1.000, zstd;q=1.0001", vec![Br], true),
            // §12.5.3: a client that weighs identity above a coding prefers the
            // bytes as they are; on a tie the coding (smaller) is sent.
            ("gzip;q=0.5, identity;q=1", vec![], true),
            ("br;q=0.8, gzip;q=0.5, identity;q=0.6", vec![Br], true),
            ("gzip, identity", vec![Gzip], true),
        ] {
            let a = parse(v);
            assert_eq!(a.preferred().collect::<Vec<_>>(), want, "{v:?}");
            assert_eq!(a.identity_acceptable(), identity, "{v:?}");
        }
        assert_eq!(
            AcceptEncoding::from_headers(&HeaderMap::new())
                .preferred()
                .count(),
            0
        );
    }

    #[test]
    fn preferred_in_the_servers_order_on_ties() {
        let order = [Zstd, Br, Gzip];
        for (v, want) in [
            ("gzip, deflate, br, zstd", Some(Zstd)),
            ("gzip, deflate, br", Some(Br)),
            ("gzip", Some(Gzip)),
            ("br;q=0.5, gzip", Some(Gzip)),
            ("zstd;q=0.1, br;q=0.2", Some(Br)),
            ("*", Some(Zstd)),
            ("*;q=0.1, zstd;q=0", Some(Br)),
            ("gzip;q=0.5, identity;q=1", None),
            ("identity", None),
            ("", None),
            ("br;q=0, gzip;q=0, zstd;q=0", None),
        ] {
            let a = parse(v);
            assert_eq!(a.preferred_in(&order), want, "{v:?}");
        }
        // Only the codings offered count.
        assert_eq!(parse("zstd, br").preferred_in(&[Gzip]), None);
    }

    #[test]
    fn qvalues() {
        for (v, q) in [
            ("1", Some(1000)),
            ("1.0", Some(1000)),
            ("0.5", Some(500)),
            ("0.001", Some(1)),
            ("0", Some(0)),
            ("1.5", None),
            ("0.5555", None),
            ("", None),
            ("-1", None),
            (".5", None),
        ] {
            assert_eq!(qvalue(v.as_bytes()), q, "{v}");
        }
    }
}
