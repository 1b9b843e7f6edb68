//! `Content-Disposition` for downloads: RFC 6266, with RFC 8187 for names that
//! are not plain ASCII.
//!
//! RFC 6266 §4.3: "when both "filename" and "filename*" are present in a single
//! header field value, recipients SHOULD pick "filename*" and ignore
//! "filename"", so ferry sends a quoted ASCII fallback first for old clients and
//! the exact UTF-8 name in `filename*` whenever the two differ.
use http::HeaderValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Whether the browser should download the file or show it (RFC 6266 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// `inline`: display it if the browser can.
    Inline,
    /// `attachment`: ask the user to save it.
    Attachment,
}

/// RFC 8187 §3.2.1 `attr-char`: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" /
/// "-" / "." / "^" / "_" / "`" / "|" / "~". Everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The `Content-Disposition` value for `disposition` with the download name
/// `filename` (any Unicode).
///
/// The name is neutralised first: path separators (`/`, `\`) become `_` so a
/// client can never be steered into another directory, control characters are
/// dropped, and leading dots are removed so the name cannot be hidden or
/// relative. The quoted fallback replaces non-ASCII characters and `"` with
/// `_`; `filename*=UTF-8''…` carries the exact name when it is not the same.
/// An empty (or entirely neutralised) name gives no `filename` parameter.
///
/// ```
/// use ferry::disposition::{content_disposition, Disposition};
/// let v = content_disposition(Disposition::Attachment, Some("Grüße.pdf"));
/// assert_eq!(v, "attachment; filename=\"Gr__e.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf");
/// ```
pub fn content_disposition(disposition: Disposition, filename: Option<&str>) -> HeaderValue {
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    let name = filename.map(sanitize).unwrap_or_default();
    if name.is_empty() {
        return HeaderValue::from_static(kind);
    }
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii() && c != '"' { c } else { '_' })
        .collect();
    let mut v = format!("{kind}; filename=\"{fallback}\"");
    if fallback != name {
        v.push_str("; filename*=UTF-8''");
        v.extend(utf8_percent_encode(&name, ATTR_CHAR));
    }
    // Only visible ASCII and spaces remain, so this cannot fail.
    HeaderValue::try_from(v).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        // Controls would break the header; bidirectional overrides would let a
        // name like `exe.pdf` display as something else.
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| match c {
            '/' | '\\' => '_',
            c => c,
        })
        .collect();
    s.trim().trim_start_matches('.').trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cd(name: &str) -> String {
        content_disposition(Disposition::Attachment, Some(name))
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn names_in_several_scripts_and_hostile_names() {
        for (name, want) in [
            // Plain ASCII: the quoted form is exact, no filename* needed.
            ("report.pdf", r#"attachment; filename="report.pdf""#),
            ("a b.txt", r#"attachment; filename="a b.txt""#),
            // Latin, CJK, Cyrillic, Arabic, emoji: fallback plus RFC 8187 form.
            (
                "Grüße 报告.pdf",
                "attachment; filename=\"Gr__e __.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%E6%8A%A5%E5%91%8A.pdf",
            ),
            (
                "отчёт.txt",
                "attachment; filename=\"_____.txt\"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.txt",
            ),
            (
                "تقرير.csv",
                "attachment; filename=\"_____.csv\"; filename*=UTF-8''%D8%AA%D9%82%D8%B1%D9%8A%D8%B1.csv",
            ),
            (
                "🚀.png",
                "attachment; filename=\"_.png\"; filename*=UTF-8''%F0%9F%9A%80.png",
            ),
            // Quotes cannot close the quoted-string; the exact name goes in filename*.
            (
                r#"a"b.txt"#,
                "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt",
            ),
            // Separators can never steer the save location.
            ("../../etc/passwd", r#"attachment; filename="_.._etc_passwd""#),
            (r"C:\Windows\win.ini", r#"attachment; filename="C:_Windows_win.ini""#),
            // Control characters (header injection) are dropped.
            ("a\r\nSet-Cookie: x=1.txt", r#"attachment; filename="aSet-Cookie: x=1.txt""#),
            ("nul\0.txt", r#"attachment; filename="nul.txt""#),
            (
                "invoice\u{202e}fdp.exe",
                "attachment; filename=\"invoicefdp.exe\"",
            ),
            // Hidden names lose their leading dots; nothing left means no name.
            (".bashrc", r#"attachment; filename="bashrc""#),
            ("...", "attachment"),
            ("", "attachment"),
            // RFC 8187 attr-chars stay as they are; the rest is encoded.
            (
                "é!#$&+-.^_`|~ (1);.txt",
                "attachment; filename=\"_!#$&+-.^_`|~ (1);.txt\"; filename*=UTF-8''%C3%A9!#$&+-.^_`|~%20%281%29%3B.txt",
            ),
        ] {
            assert_eq!(cd(name), want, "{name:?}");
        }
        assert_eq!(
            content_disposition(Disposition::Inline, Some("ü.pdf")),
            "inline; filename=\"_.pdf\"; filename*=UTF-8''%C3%BC.pdf"
        );
        assert_eq!(content_disposition(Disposition::Inline, None), "inline");
    }

    fn decode_ext(v: &str) -> Option<String> {
        let enc = v.split("filename*=UTF-8''").nth(1)?;
        Some(
            percent_encoding::percent_decode_str(enc)
                .decode_utf8()
                .unwrap()
                .into_owned(),
        )
    }

    proptest! {
        /// Any name gives a valid header value whose filename* (or quoted
        /// fallback) decodes to the neutralised name exactly.
        #[test]
        fn any_name_round_trips_through_the_header(name in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let v = cd(&name);
            prop_assert!(v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
            let clean = sanitize(&name);
            prop_assert!(!clean.contains(['/', '\\']));
            if clean.is_empty() {
                prop_assert_eq!(v, "attachment");
            } else if let Some(exact) = decode_ext(&v) {
                prop_assert_eq!(exact, clean);
            } else {
                prop_assert_eq!(v, format!("attachment; filename=\"{clean}\""));
            }
        }
    }
}
