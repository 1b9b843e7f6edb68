//! The access log: one line per request, in ferry's short format, the Common or
//! Combined Log Format, or JSON; to stderr or a file that SIGHUP reopens (for
//! logrotate).
use std::fs::File;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `ip "METHOD target" status bytes duration`
    Short,
    /// NCSA Common Log Format.
    Common,
    /// Common plus "referer" "user-agent", as Apache and nginx write it.
    Combined,
    /// One JSON object per line.
    Json,
}

/// What one line says.
pub(crate) struct Entry<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: &'a str,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) duration: Duration,
    pub(crate) referer: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    /// The host asked for (the target's authority, or Host): which site.
    pub(crate) host: Option<&'a str>,
    /// The response's Content-Encoding (JSON only: the other formats are
    /// the standard ones log analysers parse).
    pub(crate) content_encoding: Option<&'a str>,
}

/// Where lines go.
pub(crate) struct AccessLog {
    format: Format,
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl AccessLog {
    /// A log in `format` to `path`, or to stderr.
    pub(crate) fn open(format: Format, path: Option<PathBuf>) -> io::Result<Self> {
        let file = match &path {
            Some(p) => Some(open_append(p)?),
            None => None,
        };
        Ok(AccessLog {
            format,
            path,
            file: Mutex::new(file),
        })
    }

    /// Reopens the file (after logrotate moved it); stderr needs nothing.
    pub(crate) fn reopen(&self) {
        let Some(p) = &self.path else { return };
        match open_append(p) {
            Ok(f) => *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f),
            Err(e) => eprintln!("ferry: cannot reopen the access log {}: {e}", p.display()),
        }
    }

    pub(crate) fn log(&self, e: &Entry<'_>) {
        let line = format_line(self.format, e, SystemTime::now());
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match file.as_mut() {
            Some(f) => f.write_all(line.as_bytes()),
            None => io::stderr().lock().write_all(line.as_bytes()),
        };
    }
}

fn open_append(p: &std::path::Path) -> io::Result<File> {
    File::options().create(true).append(true).open(p)
}

fn format_line(format: Format, e: &Entry<'_>, now: SystemTime) -> String {
    let ms = e.duration.as_secs_f64() * 1000.0;
    match format {
        Format::Short => format!(
            "{} \"{} {}\" {} {} {:.3}ms\n",
            e.peer.ip(),
            e.method,
            e.target.escape_debug(),
            e.status,
            e.bytes,
            ms
        ),
        Format::Common | Format::Combined => {
            let mut s = format!(
                "{} - - [{}] \"{} {} {}\" {} {}",
                e.peer.ip(),
                clf_time(now),
                e.method,
                e.target.escape_debug(),
                e.version,
                e.status,
                e.bytes
            );
            if format == Format::Combined {
                s.push_str(&format!(
                    " \"{}\" \"{}\"",
                    e.referer.unwrap_or("-").escape_debug(),
                    e.user_agent.unwrap_or("-").escape_debug()
                ));
            }
            s.push('\n');
            s
        }
        Format::Json => {
            let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let mut s = String::with_capacity(256);
            s.push_str(&format!(
                "{{\"time\":{}.{:03},\"remote\":",
                secs.as_secs(),
                secs.subsec_millis()
            ));
            json_str(&mut s, &e.peer.ip().to_string());
            s.push_str(",\"method\":");
            json_str(&mut s, e.method);
            s.push_str(",\"target\":");
            json_str(&mut s, e.target);
            s.push_str(",\"version\":");
            json_str(&mut s, e.version);
            s.push_str(",\"host\":");
            opt_json_str(&mut s, e.host);
            s.push_str(&format!(
                ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3}",
                e.status, e.bytes, ms
            ));
            s.push_str(",\"referer\":");
            opt_json_str(&mut s, e.referer);
            s.push_str(",\"user_agent\":");
            opt_json_str(&mut s, e.user_agent);
            s.push_str(",\"content_encoding\":");
            opt_json_str(&mut s, e.content_encoding);
            s.push_str("}\n");
            s
        }
    }
}

fn opt_json_str(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json_str(out, v),
        None => out.push_str("null"),
    }
}

/// A JSON string literal (RFC 8259 §7).
fn json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `10/Oct/2000:13:55:36 +0000`, in UTC.
fn clf_time(t: SystemTime) -> String {
    // From the IMF-fixdate: "Tue, 10 Oct 2000 13:55:36 GMT".
    let d = ferry::proto::date::fmt_http_date(t);
    let p: Vec<&str> = d.split(' ').collect();
    match p.as_slice() {
        [_, day, mon, year, time, _] => format!("{day}/{mon}/{year}:{time} +0000"),
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(target: &'a str, ua: Option<&'a str>) -> Entry<'a> {
        Entry {
            peer: "192.0.2.7:5000".parse().unwrap(),
            method: "GET",
            target,
            version: "HTTP/1.1",
            status: 206,
            bytes: 1000,
            duration: Duration::from_micros(1500),
            referer: None,
            user_agent: ua,
            host: None,
            content_encoding: None,
        }
    }

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_secs(971_186_136); // 2000-10-10 13:55:36
        let e = entry("/a b.txt?x=\"1\"", Some("curl/8 \"quoted\""));
        assert_eq!(
            format_line(Format::Common, &e, t),
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /a b.txt?x=\\\"1\\\" HTTP/1.1\" 206 1000\n"
        );
        assert_eq!(
            format_line(Format::Combined, &e, t),
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /a b.txt?x=\\\"1\\\" HTTP/1.1\" 206 1000 \"-\" \"curl/8 \\\"quoted\\\"\"\n"
        );
        assert_eq!(
            format_line(Format::Json, &entry("/\u{1}\"\\ü", None), t),
            "{\"time\":971186136.000,\"remote\":\"192.0.2.7\",\"method\":\"GET\",\"target\":\"/\\u0001\\\"\\\\ü\",\"version\":\"HTTP/1.1\",\"host\":null,\"status\":206,\"bytes\":1000,\"duration_ms\":1.500,\"referer\":null,\"user_agent\":null,\"content_encoding\":null}\n"
        );
        let coded = Entry {
            content_encoding: Some("zstd"),
            ..entry("/a.css", None)
        };
        assert!(format_line(Format::Json, &coded, t).ends_with(",\"content_encoding\":\"zstd\"}\n"));
        assert_eq!(
            format_line(Format::Short, &e, t),
            "192.0.2.7 \"GET /a b.txt?x=\\\"1\\\"\" 206 1000 1.500ms\n"
        );
    }
}
