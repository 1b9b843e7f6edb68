//! Directory listings as HTML or JSON. Pure rendering: names are HTML-escaped,
//! links percent-encoded, so a file named `<img src=x onerror=alert(1)>.txt` is
//! shown as text and never run.
use crate::store::DirEntry;
use http::HeaderMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt::Write as _;
use std::time::SystemTime;

/// Characters escaped in a link to one entry: everything but unreserved ones.
const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Directories first, then by name.
pub(crate) fn sort(entries: &mut [DirEntry]) {
    entries.sort_unstable_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
}

/// Whether the request prefers `application/json` over `text/html` (Accept
/// qvalues, [RFC 9110 §12.5.1]).
///
/// [RFC 9110 §12.5.1]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    let (mut json, mut html) = (0u16, 0u16);
    for v in headers.get_all(http::header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut params = item.split(';');
            let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            match media.as_str() {
                "application/json" => json = json.max(q),
                "text/html" => html = html.max(q),
                _ => {}
            }
        }
    }
    json > html
}

fn escape_html(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn fmt_size(len: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = len as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{len} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn fmt_time(t: Option<SystemTime>) -> String {
    t.map(ferry_proto::fmt_http_date).unwrap_or_default()
}

/// The HTML page for the directory at URL `path` (which ends with `/`).
pub(crate) fn html(path: &str, entries: &[DirEntry]) -> String {
    let mut title = String::new();
    let shown = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    escape_html(&shown, &mut title);
    let mut out = String::with_capacity(512 + entries.len() * 160);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Index of {title}</title><style>\
         body{{font:15px system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:.2em 1.2em .2em 0;text-align:left}}\
         td.n{{text-align:right;font-variant-numeric:tabular-nums}}a{{text-decoration:none}}\
         </style></head><body><h1>Index of {title}</h1>\n<table>\
         <tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
    );
    if path != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        let href: String = utf8_percent_encode(&e.name, LINK).collect();
        let mut name = String::new();
        escape_html(&e.name, &mut name);
        let (slash, size) = if e.is_dir {
            ("/", String::from("-"))
        } else {
            ("", fmt_size(e.len))
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"./{href}{slash}\">{name}{slash}</a></td><td class=\"n\">{size}</td><td>{}</td></tr>",
            fmt_time(e.modified)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The listing as a JSON array of `{name, type, size, modified}`.
pub(crate) fn json(entries: &[DirEntry]) -> String {
    let mut out = String::with_capacity(2 + entries.len() * 96);
    out.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&e.name, &mut out);
        let _ = write!(
            out,
            ",\"type\":\"{}\",\"size\":{}",
            if e.is_dir { "directory" } else { "file" },
            e.len
        );
        out.push_str(",\"modified\":");
        match e.modified {
            Some(t) => json_string(&ferry_proto::fmt_http_date(t), &mut out),
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_text_not_markup() {
        let evil = "<img src=x onerror=alert(1)>.txt";
        let e = [
            DirEntry::new(evil.into(), false, 5, None),
            DirEntry::new("a\"b'&.txt".into(), false, 1, None),
        ];
        let page = html("/x/", &e);
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
        assert!(
            page.contains("href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""),
            "{page}"
        );
        assert!(page.contains("a&quot;b&#39;&amp;.txt"));
        let title = html("/%3Cscript%3E/", &[]);
        assert!(!title.contains("<script>") && title.contains("&lt;script&gt;"));
    }

    #[test]
    fn json_escapes_and_lists() {
        let e = [
            DirEntry::new("q\"\\\n.txt".into(), false, 3, None),
            DirEntry::new("sub".into(), true, 0, None),
        ];
        assert_eq!(
            json(&e),
            "[{\"name\":\"q\\\"\\\\\\u000a.txt\",\"type\":\"file\",\"size\":3,\"modified\":null},{\"name\":\"sub\",\"type\":\"directory\",\"size\":0,\"modified\":null}]\n"
        );
    }

    #[test]
    fn accept_prefers_by_qvalue() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(http::header::ACCEPT, v.parse().unwrap());
            wants_json(&m)
        };
        assert!(h("application/json"));
        assert!(!h(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(h("text/html;q=0.5, application/json"));
        assert!(!h("application/json;q=0.1, text/html"));
        assert!(!wants_json(&HeaderMap::new()));
    }

    #[test]
    fn directories_first_then_names() {
        let mut e = vec![
            DirEntry::new("b.txt".into(), false, 1, None),
            DirEntry::new("z".into(), true, 0, None),
            DirEntry::new("a.txt".into(), false, 1, None),
        ];
        sort(&mut e);
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["z", "a.txt", "b.txt"]);
    }
}
