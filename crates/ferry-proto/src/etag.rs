//! Entity tags ([RFC 9110 §8.8.3]) and their comparison (§8.8.3.2).
//!
//! ```text
//! entity-tag = [ weak ] opaque-tag
//! weak       = %s"W/"
//! opaque-tag = DQUOTE *etagc DQUOTE
//! etagc      = %x21 / %x23-7E / obs-text
//! ```
//!
//! Choice: obs-text (bytes 0x80–0xFF) is accepted only when it forms UTF-8, so
//! that a tag is always a `str`; other tags containing it are invalid (and so
//! the field holding them is ignored or fails to match).
//!
//! [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
use crate::{ContentCoding, ParseError};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An entity tag: an opaque quoted string, optionally marked weak (`W/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    /// The opaque-tag without quotes; only etagc characters.
    /// Shared: cached entities hand out clones per request.
    opaque: std::sync::Arc<str>,
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

fn check_opaque(opaque: &str) -> Result<(), ParseError> {
    if opaque.bytes().all(is_etagc) {
        Ok(())
    } else {
        Err(ParseError("invalid character in entity tag"))
    }
}

impl EntityTag {
    /// A strong tag with the given opaque part (without quotes).
    ///
    /// # Errors
    ///
    /// When `opaque` contains a character outside etagc (`"`, space, controls).
    pub fn strong(opaque: &str) -> Result<Self, ParseError> {
        check_opaque(opaque)?;
        Ok(EntityTag {
            weak: false,
            opaque: opaque.into(),
        })
    }

    /// A weak tag with the given opaque part (without quotes).
    ///
    /// # Errors
    ///
    /// As [`EntityTag::strong`].
    pub fn weak(opaque: &str) -> Result<Self, ParseError> {
        check_opaque(opaque)?;
        Ok(EntityTag {
            weak: true,
            opaque: opaque.into(),
        })
    }

    /// Whether the tag carries `W/`.
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// The opaque part, without quotes.
    pub fn opaque(&self) -> &str {
        &self.opaque
    }

    /// Compares with the strong comparison function: both tags strong and their
    /// opaque parts identical ([RFC 9110 §8.8.3.2]). `If-Match` and `If-Range`
    /// use this.
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Compares two entity tags with the weak comparison function.
    ///
    /// Tags match when their opaque parts are identical, whether or not either is
    /// marked weak ([RFC 9110 §8.8.3.2]). `If-None-Match` uses this; `If-Match` and
    /// `If-Range` use [`EntityTag::strong_eq`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry_proto::EntityTag;
    /// let weak: EntityTag = r#"W/"7""#.parse()?;
    /// let strong: EntityTag = r#""7""#.parse()?;
    /// assert!(weak.weak_eq(&strong) && !weak.strong_eq(&strong));
    /// # Ok::<(), ferry_proto::ParseError>(())
    /// ```
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }

    /// The tag of this representation's variant in `coding`: the opaque part
    /// with `-` and the coding's token appended (`"abc"` → `"abc-br"`), weak
    /// when this one is.
    ///
    /// Each coding is a representation of its own and needs a tag of its own
    /// ([RFC 9110 §8.8.3]): otherwise a cache could answer a revalidation of
    /// the coded bytes with the identity ones. Precompressed siblings and
    /// variants coded on the fly both use this, so their tags agree.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry_proto::{ContentCoding, EntityTag};
    /// let tag: EntityTag = r#"W/"abc""#.parse()?;
    /// assert_eq!(tag.for_coding(ContentCoding::Br).to_string(), r#"W/"abc-br""#);
    /// # Ok::<(), ferry_proto::ParseError>(())
    /// ```
    ///
    /// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
    #[must_use]
    pub fn for_coding(&self, coding: ContentCoding) -> EntityTag {
        let token = coding.as_str();
        let mut opaque = String::with_capacity(self.opaque.len() + 1 + token.len());
        opaque.push_str(&self.opaque);
        opaque.push('-');
        // A token's characters are all etagc: the result is a valid tag.
        opaque.push_str(token);
        EntityTag {
            weak: self.weak,
            opaque: opaque.into(),
        }
    }

    /// A strong tag derived from a length and a modification time with
    /// nanosecond precision — never the inode — so replicas serving copies of the
    /// same files agree, restarts keep it, and a same-size rewrite within the same
    /// second changes it. The format is opaque to clients.
    pub fn from_len_mtime(len: u64, mtime: SystemTime) -> Self {
        let (secs, nanos) = match mtime.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs(), d.subsec_nanos()),
            Err(_) => (0, 0),
        };
        let mut opaque = String::with_capacity(36);
        push_hex(&mut opaque, len);
        opaque.push('-');
        push_hex(&mut opaque, secs);
        opaque.push('.');
        push_hex(&mut opaque, u64::from(nanos));
        EntityTag {
            weak: false,
            opaque: opaque.into(),
        }
    }

    /// The header value, e.g. `W/"abc"`.
    pub fn to_header_value(&self) -> http::HeaderValue {
        let mut s = String::with_capacity(self.opaque.len() + 4);
        if self.weak {
            s.push_str("W/");
        }
        s.push('"');
        s.push_str(&self.opaque);
        s.push('"');
        http::HeaderValue::try_from(s).unwrap_or_else(|_| http::HeaderValue::from_static("\"\""))
    }
}

/// Lower-case hexadecimal without leading zeros, as `{:x}` writes it.
fn push_hex(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

impl std::str::FromStr for EntityTag {
    type Err = ParseError;

    /// Parses exactly one entity-tag (surrounding OWS allowed).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse(s.as_bytes()).ok_or(ParseError("invalid entity tag"))
    }
}

impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.opaque)
    }
}

/// Splits one entity-tag into (weak, opaque bytes) without allocating.
fn split_tag(v: &[u8]) -> Option<(bool, &[u8])> {
    let v = crate::list::trim(v);
    let (weak, rest) = match v.strip_prefix(b"W/") {
        Some(r) => (true, r),
        None => (false, v),
    };
    let inner = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.iter().all(|&b| is_etagc(b)) {
        return None;
    }
    Some((weak, inner))
}

/// Parses one entity-tag from bytes (surrounding OWS allowed); `None` if invalid.
pub fn parse(value: &[u8]) -> Option<EntityTag> {
    let (weak, inner) = split_tag(value)?;
    let opaque = std::str::from_utf8(inner).ok()?;
    Some(EntityTag {
        weak,
        opaque: opaque.into(),
    })
}

/// The result of matching a tag against an `If-Match`/`If-None-Match` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// The field is `*`.
    Any,
    /// Some member matched.
    Matched,
    /// A valid list, no member matched.
    NoMatch,
    /// Not a valid `"*" / #entity-tag` value.
    Invalid,
}

/// Matches `tag` against one field value (`*` or a comma list of entity-tags,
/// §8.8.3, §5.6.1: `"a,b"` is one tag), with strong or weak comparison.
/// Allocation-free. `tag == None` (no entity tag) matches only `*`.
pub fn match_list(value: &[u8], tag: Option<&EntityTag>, strong: bool) -> ListMatch {
    // The common case, a client revalidating with the one tag it was given:
    // exactly `"opaque"`, compared without splitting the list.
    if let Some(t) = tag {
        let o = t.opaque.as_bytes();
        if value.len() == o.len() + 2
            && value.first() == Some(&b'"')
            && value.last() == Some(&b'"')
            && &value[1..value.len() - 1] == o
        {
            return if !strong || !t.weak {
                ListMatch::Matched
            } else {
                ListMatch::NoMatch
            };
        }
    }
    if crate::list::trim(value) == b"*" {
        return ListMatch::Any;
    }
    let mut matched = false;
    let mut any = false;
    for item in crate::list::split(value) {
        any = true;
        let Some((weak, opaque)) = split_tag(item) else {
            return ListMatch::Invalid;
        };
        if let Some(t) = tag {
            let same = t.opaque.as_bytes() == opaque;
            if same && (!strong || (!weak && !t.weak)) {
                matched = true;
            }
        }
    }
    match (any, matched) {
        (false, _) => ListMatch::Invalid,
        (true, true) => ListMatch::Matched,
        (true, false) => ListMatch::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_single_tag_fast_path_agrees_with_the_list_parser() {
        // `"x"` against a strong and a weak current tag, by strong and weak
        // comparison (RFC 9110 §8.8.3.2): the fast path's answers.
        let strong_tag: EntityTag = r#""x""#.parse().unwrap();
        let weak_tag: EntityTag = r#"W/"x""#.parse().unwrap();
        for (value, tag, strong, want) in [
            (r#""x""#, &strong_tag, true, ListMatch::Matched),
            (r#""x""#, &strong_tag, false, ListMatch::Matched),
            (r#""x""#, &weak_tag, true, ListMatch::NoMatch),
            (r#""x""#, &weak_tag, false, ListMatch::Matched),
            // Not the fast path's shape: the list parser decides, the same way.
            (r#" "x" "#, &weak_tag, true, ListMatch::NoMatch),
            (r#""y", "x""#, &strong_tag, true, ListMatch::Matched),
            (r#"W/"x""#, &strong_tag, true, ListMatch::NoMatch),
            (r#"W/"x""#, &strong_tag, false, ListMatch::Matched),
            (r#""x"#, &strong_tag, false, ListMatch::Invalid),
        ] {
            assert_eq!(
                match_list(value.as_bytes(), Some(tag), strong),
                want,
                "{value} {strong}"
            );
        }
    }

    #[test]
    fn comparison_examples_rfc9110_8_8_3_2() {
        // RFC 9110 §8.8.3.2 example table: ETag 1, ETag 2, strong, weak.
        for (a, b, strong, weak) in [
            (r#"W/"1""#, r#"W/"1""#, false, true),
            (r#"W/"1""#, r#"W/"2""#, false, false),
            (r#"W/"1""#, r#""1""#, false, true),
            (r#""1""#, r#""1""#, true, true),
        ] {
            let (a, b): (EntityTag, EntityTag) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(
                (a.strong_eq(&b), a.weak_eq(&b)),
                (strong, weak),
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn parse_table() {
        for (s, want) in [
            (r#""xyzzy""#, Some((false, "xyzzy"))),
            (r#"W/"xyzzy""#, Some((true, "xyzzy"))),
            (r#""""#, Some((false, ""))),
            (r#"  "a,b"  "#, Some((false, "a,b"))),
            ("\"caf\u{e9}\"", Some((false, "caf\u{e9}"))),
            ("abc", None),
            (r#""a"#, None),
            (r#"w/"a""#, None),
            (r#"W/ "a""#, None),
            (r#""a"b""#, None),
            (r#""a b""#, None),
            ("\"a\tb\"", None),
            ("*", None),
            ("", None),
        ] {
            let got = s
                .parse::<EntityTag>()
                .ok()
                .map(|t| (t.is_weak(), t.opaque().to_owned()));
            assert_eq!(got, want.map(|(w, o)| (w, o.to_owned())), "{s:?}");
        }
    }

    #[test]
    fn lists() {
        let t: EntityTag = r#""b""#.parse().unwrap();
        let w: EntityTag = r#"W/"b""#.parse().unwrap();
        for (v, tag, strong, want) in [
            ("*", Some(&t), true, ListMatch::Any),
            (" * ", None, false, ListMatch::Any),
            (r#""a", "b""#, Some(&t), true, ListMatch::Matched),
            (r#""a", W/"b""#, Some(&t), true, ListMatch::NoMatch),
            (r#""a", W/"b""#, Some(&t), false, ListMatch::Matched),
            (r#""a", "b""#, Some(&w), true, ListMatch::NoMatch),
            (r#""a", "b""#, Some(&w), false, ListMatch::Matched),
            (r#""a,b""#, Some(&t), false, ListMatch::NoMatch),
            (r#""a", b"#, Some(&t), false, ListMatch::Invalid),
            ("", Some(&t), false, ListMatch::Invalid),
            (r#""b""#, None, false, ListMatch::NoMatch),
        ] {
            assert_eq!(
                match_list(v.as_bytes(), tag, strong),
                want,
                "{v} {tag:?} {strong}"
            );
        }
    }

    #[test]
    fn a_codings_tag_differs_and_keeps_weakness() {
        for (tag, coding, want) in [
            (r#""1-2.3""#, ContentCoding::Br, r#""1-2.3-br""#),
            (r#"W/"x""#, ContentCoding::Zstd, r#"W/"x-zstd""#),
            (r#""""#, ContentCoding::Gzip, r#""-gzip""#),
        ] {
            let t: EntityTag = tag.parse().unwrap();
            let c = t.for_coding(coding);
            assert_eq!(c.to_string(), want);
            assert_eq!(c.to_string().parse::<EntityTag>().unwrap(), c);
            assert!(!c.weak_eq(&t));
        }
    }

    #[test]
    fn derived_tags_change_with_subsecond_mtime_not_inode() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 1);
        let a = EntityTag::from_len_mtime(5, t);
        assert_eq!(a, EntityTag::from_len_mtime(5, t));
        assert_ne!(
            a,
            EntityTag::from_len_mtime(5, t + std::time::Duration::from_nanos(1))
        );
        assert_ne!(a, EntityTag::from_len_mtime(6, t));
        assert!(!a.is_weak());
        assert_eq!(a.to_string().parse::<EntityTag>().unwrap(), a);
    }
}
