//! `#` lists ([RFC 9110 §5.6.1]) that respect quoted strings.
//!
//! [RFC 9110 §5.6.1]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1

/// Splits a field value on commas outside quoted strings, trimming OWS and
/// skipping empty elements (§5.6.1: recipients MUST accept empty elements).
///
/// `"a,b"` stays one element; a backslash quoted-pair inside quotes is skipped.
///
/// # Examples
///
/// ```
/// let items: Vec<&[u8]> = ferry_proto::list::split(br#" "a,b" , W/"c",, "#).collect();
/// assert_eq!(items, [&br#""a,b""#[..], br#"W/"c""#]);
/// ```
pub fn split(value: &[u8]) -> Split<'_> {
    Split { rest: value }
}

/// The iterator returned by [`split`].
#[derive(Debug, Clone)]
pub struct Split<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let mut quoted = false;
            let mut i = 0;
            let mut end = self.rest.len();
            while i < self.rest.len() {
                match self.rest[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b',' if !quoted => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let item = trim(&self.rest[..end]);
            self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Trims optional whitespace (SP and HTAB) at both ends.
pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_only() {
        for (input, want) in [
            ("a, b ,c", vec!["a", "b", "c"]),
            (r#""a,b", "c""#, vec![r#""a,b""#, r#""c""#]),
            (",, a ,,", vec!["a"]),
            ("", vec![]),
            (" \t ", vec![]),
            (r#""a\",b", c"#, vec![r#""a\",b""#, "c"]),
            ("gzip;q=0.5, br", vec!["gzip;q=0.5", "br"]),
        ] {
            let got: Vec<&[u8]> = split(input.as_bytes()).collect();
            let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
            assert_eq!(got, want, "{input:?}");
        }
    }
}
