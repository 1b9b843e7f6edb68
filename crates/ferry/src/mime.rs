//! Content-Type from a file name.
//!
//! A short table of the types the web depends on, checked first and kept exact
//! (JavaScript is `text/javascript` per RFC 9239, WebAssembly is
//! `application/wasm`), then `mime_guess`'s maintained table. Text types get
//! `charset=utf-8`.
use http::HeaderValue;
use std::path::Path;

/// The type sent for names with no known extension.
pub const DEFAULT: &str = "application/octet-stream";

const TABLE: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("cjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("xml", "text/xml; charset=utf-8"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("wasm", "application/wasm"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("bin", "application/octet-stream"),
    ("jsonld", "application/ld+json"),
    ("xhtml", "application/xhtml+xml"),
    ("mp4a", "audio/mp4"),
    ("m4a", "audio/mp4"),
    ("mov", "video/quicktime"),
    ("apng", "image/apng"),
    ("bmp", "image/bmp"),
    ("tar", "application/x-tar"),
];

/// The Content-Type for `ext` (without the dot, any case), or `None` when unknown.
pub fn for_extension(ext: &str) -> Option<HeaderValue> {
    let lower;
    let ext = if ext.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = ext.to_ascii_lowercase();
        &lower
    } else {
        ext
    };
    // Common extensions first, without a scan: the table's first byte narrows
    // the search to a handful of entries.
    let first = ext.as_bytes().first().copied();
    if let Some((_, t)) = TABLE
        .iter()
        .filter(|(e, _)| e.as_bytes().first().copied() == first)
        .find(|(e, _)| *e == ext)
    {
        return Some(HeaderValue::from_static(t));
    }
    // mime_guess parses and allocates: remember its answers per thread.
    thread_local! {
        static GUESSED: std::cell::RefCell<std::collections::HashMap<Box<str>, Option<HeaderValue>>> =
            std::cell::RefCell::default();
    }
    if let Some(v) = GUESSED.with(|g| g.borrow().get(ext).cloned()) {
        return v;
    }
    let v = guess(ext);
    GUESSED.with(|g| {
        let mut g = g.borrow_mut();
        if g.len() < 1024 {
            g.insert(ext.into(), v.clone());
        }
    });
    v
}

fn guess(ext: &str) -> Option<HeaderValue> {
    let m = mime_guess::from_ext(ext).first()?;
    let text = m.type_() == mime_guess::mime::TEXT
        || m.suffix() == Some(mime_guess::mime::XML)
        || m.subtype() == "javascript";
    let s = if text && m.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", m.essence_str())
    } else {
        m.essence_str().to_owned()
    };
    HeaderValue::from_str(&s).ok()
}

/// The Content-Type for a file name; [`DEFAULT`] when the extension is unknown.
pub fn for_path(path: &Path) -> HeaderValue {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(for_extension)
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT))
}

/// Whether a representation of this Content-Type shrinks under a
/// general-purpose coding: what `ferry precompress` writes siblings for and
/// what on-the-fly compression codes.
///
/// Text, JSON, XML, JavaScript, WebAssembly, SVG, icons and uncompressed fonts
/// do; images, audio, video, archives, PDF and WOFF/WOFF2 are compressed
/// already. Parameters are ignored and the type is compared without regard to
/// case; the test allocates nothing.
///
/// # Examples
///
/// ```
/// assert!(ferry::mime::is_compressible(b"text/css; charset=utf-8"));
/// assert!(ferry::mime::is_compressible(b"image/svg+xml"));
/// assert!(!ferry::mime::is_compressible(b"image/png"));
/// ```
pub fn is_compressible(content_type: &[u8]) -> bool {
    // By top-level type first, so a type that is not compressible (most
    // often application/octet-stream or an image) costs a few comparisons.
    const APPLICATION: &[&[u8]] = &[
        b"javascript",
        b"x-javascript",
        b"ecmascript",
        b"json",
        b"xml",
        b"wasm",
        b"yaml",
        b"toml",
        b"rtf",
        b"x-ndjson",
        b"vnd.ms-fontobject",
    ];
    const IMAGE: &[&[u8]] = &[b"x-icon", b"vnd.microsoft.icon", b"bmp"];
    const FONT: &[&[u8]] = &[b"ttf", b"otf", b"collection"];
    let Some(slash) = content_type.iter().position(|&b| b == b'/') else {
        return false;
    };
    let top = content_type[..slash].trim_ascii();
    let rest = &content_type[slash + 1..];
    let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
    let sub = rest[..end].trim_ascii();
    let ends =
        |p: &[u8]| sub.len() >= p.len() && sub[sub.len() - p.len()..].eq_ignore_ascii_case(p);
    let one_of = |list: &[&[u8]]| list.iter().any(|t| sub.eq_ignore_ascii_case(t));
    if top.eq_ignore_ascii_case(b"text") || ends(b"+json") || ends(b"+xml") {
        return !sub.is_empty();
    }
    if top.eq_ignore_ascii_case(b"application") {
        one_of(APPLICATION)
    } else if top.eq_ignore_ascii_case(b"image") {
        one_of(IMAGE)
    } else if top.eq_ignore_ascii_case(b"font") {
        one_of(FONT)
    } else {
        false
    }
}

/// Content types with user overrides: per-extension values and the type for
/// unknown extensions.
///
/// # Examples
///
/// ```
/// use ferry::mime::MimeTable;
/// use http::HeaderValue;
/// let t = MimeTable::new()
///     .with("md", HeaderValue::from_static("text/plain; charset=utf-8"))
///     .default_type(HeaderValue::from_static("text/plain"));
/// assert_eq!(t.for_path("README.md".as_ref()), "text/plain; charset=utf-8");
/// assert_eq!(t.for_path("LICENSE".as_ref()), "text/plain");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MimeTable {
    overrides: Vec<(String, HeaderValue)>,
    default: Option<HeaderValue>,
}

impl MimeTable {
    /// The built-in table with no overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves files ending in `.ext` (any case) as `value`.
    #[must_use]
    pub fn with(mut self, ext: &str, value: HeaderValue) -> Self {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        self.overrides.retain(|(e, _)| *e != ext);
        self.overrides.push((ext, value));
        self
    }

    /// The type for unknown extensions (default [`DEFAULT`]).
    #[must_use]
    pub fn default_type(mut self, value: HeaderValue) -> Self {
        self.default = Some(value);
        self
    }

    /// The Content-Type for a file name.
    pub fn for_path(&self, path: &Path) -> HeaderValue {
        let ext = path.extension().and_then(|e| e.to_str());
        if let Some(ext) = ext {
            if let Some((_, v)) = self
                .overrides
                .iter()
                .find(|(e, _)| e.eq_ignore_ascii_case(ext))
            {
                return v.clone();
            }
            if let Some(v) = for_extension(ext) {
                return v;
            }
        }
        self.default
            .clone()
            .unwrap_or_else(|| HeaderValue::from_static(DEFAULT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_types() {
        for (ty, want) in [
            ("text/css; charset=utf-8", true),
            ("Text/HTML", true),
            ("text/javascript; charset=utf-8", true),
            ("application/json", true),
            (" application/JSON ; x=1", true),
            ("application/manifest+json", true),
            ("image/svg+xml", true),
            ("application/wasm", true),
            ("image/x-icon", true),
            ("font/ttf", true),
            ("image/png", false),
            ("image/webp", false),
            ("font/woff2", false),
            ("application/zip", false),
            ("application/gzip", false),
            ("video/mp4", false),
            ("application/octet-stream", false),
            ("", false),
            ("json", false),
            ("text/", false),
            ("/json", false),
            ("applicationx/json", false),
            ("font/woff", false),
            ("image/bmp;x=y", true),
        ] {
            assert_eq!(is_compressible(ty.as_bytes()), want, "{ty}");
        }
    }

    #[test]
    fn web_types_are_exact() {
        for (name, want) in [
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.MJS", "text/javascript; charset=utf-8"),
            ("a.wasm", "application/wasm"),
            ("site.webmanifest", "application/manifest+json"),
            ("a.avif", "image/avif"),
            ("a.woff2", "font/woff2"),
            ("index.html", "text/html; charset=utf-8"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.unknownext", DEFAULT),
            ("Makefile", DEFAULT),
            ("a.rtf", "application/rtf"),
            ("a.tsv", "text/tab-separated-values; charset=utf-8"),
        ] {
            assert_eq!(for_path(Path::new(name)), want, "{name}");
        }
    }
}
