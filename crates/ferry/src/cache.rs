//! Cache-Control by path: rules, fingerprinted names, a default.
//!
//! Fingerprinted names (a content hash in the name, as webpack, Vite and Django's
//! `ManifestStaticFilesStorage` produce: `app.3f9c2b1a.js`, `index-D8bDIgVR.js`)
//! never change content, so they get `public, max-age=31536000, immutable`.
//! Everything else gets `no-cache` by default: caches may store the file but must
//! revalidate it, which costs a `304` and never serves a stale page after a deploy.
//! This module never performs I/O.
use http::HeaderValue;

/// The default for fingerprinted names.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The default for every other file.
pub const REVALIDATE: &str = "no-cache";

/// Chooses the Cache-Control value for a key.
///
/// The first matching rule wins; then fingerprinted names; then the default.
///
/// # Examples
///
/// ```
/// use ferry::cache::CachePolicy;
/// use http::HeaderValue;
/// let p = CachePolicy::default()
///     .rule("downloads/**", HeaderValue::from_static("private, max-age=0")).unwrap();
/// assert_eq!(p.for_key("assets/app.3f9c2b1a.js").unwrap(), "public, max-age=31536000, immutable");
/// assert_eq!(p.for_key("downloads/a.zip").unwrap(), "private, max-age=0");
/// assert_eq!(p.for_key("index.html").unwrap(), "no-cache");
/// ```
#[derive(Debug, Clone)]
pub struct CachePolicy {
    rules: Vec<(Glob, HeaderValue)>,
    fingerprinted: Option<HeaderValue>,
    default: Option<HeaderValue>,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            rules: Vec::new(),
            fingerprinted: Some(HeaderValue::from_static(IMMUTABLE)),
            default: Some(HeaderValue::from_static(REVALIDATE)),
        }
    }
}

/// A pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(String);

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid pattern {:?}: patterns are relative paths with *, ** and ?",
            self.0
        )
    }
}

impl std::error::Error for GlobError {}

impl CachePolicy {
    /// No Cache-Control at all.
    pub fn none() -> Self {
        CachePolicy {
            rules: Vec::new(),
            fingerprinted: None,
            default: None,
        }
    }

    /// Adds a rule: keys matching `pattern` (`*` within a segment, `**` across
    /// segments, `?` one character; matched against the key without leading `/`)
    /// get `value`. Rules are tried in the order they were added.
    ///
    /// # Errors
    ///
    /// An empty pattern.
    pub fn rule(mut self, pattern: &str, value: HeaderValue) -> Result<Self, GlobError> {
        self.rules.push((Glob::new(pattern)?, value));
        Ok(self)
    }

    /// The value for fingerprinted names (`None`: treat them like other files).
    #[must_use]
    pub fn fingerprinted(mut self, value: Option<HeaderValue>) -> Self {
        self.fingerprinted = value;
        self
    }

    /// The value for every other file (`None`: no header).
    #[must_use]
    pub fn default_value(mut self, value: Option<HeaderValue>) -> Self {
        self.default = value;
        self
    }

    /// The Cache-Control value for `key` (`/`-separated, no leading slash).
    pub fn for_key(&self, key: &str) -> Option<&HeaderValue> {
        if let Some((_, v)) = self.rules.iter().find(|(g, _)| g.matches(key)) {
            return Some(v);
        }
        let name = key.rfind('/').map_or(key, |i| &key[i + 1..]);
        if self.fingerprinted.is_some() && is_fingerprinted(name) {
            return self.fingerprinted.as_ref();
        }
        self.default.as_ref()
    }
}

/// Whether a file name carries a content hash: a dot-separated middle part of at
/// least 8 hex digits (`app.3f9c2b1a.js`, `style.55e7cbb9ba48.css`), or a last
/// `-`-separated stem part of 8 to 12 URL-safe base64 characters with both a digit
/// and a letter, as Vite makes (`index-D8bDIgVR.js`).
pub fn is_fingerprinted(name: &str) -> bool {
    // One pass over the bytes, without allocating or string searchers: this
    // runs for every file response.
    let b = name.as_bytes();
    let Some(first) = b.iter().position(|&c| c == b'.') else {
        return false;
    };
    // A dot-separated middle part: strictly between the first and last dot.
    let mut start = first + 1;
    for (i, &c) in b.iter().enumerate().skip(start) {
        if c == b'.' {
            if i - start >= 8 && b[start..i].iter().all(u8::is_ascii_hexdigit) {
                return true;
            }
            start = i + 1;
        }
    }
    // The stem's last `-`-separated part.
    let stem = &b[..first];
    let Some(dash) = stem.iter().rposition(|&c| c == b'-') else {
        return false;
    };
    let hash = &stem[dash + 1..];
    (8..=12).contains(&hash.len())
        && hash
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        && hash.iter().any(u8::is_ascii_digit)
        && hash.iter().any(u8::is_ascii_alphabetic)
}

/// A glob over `/`-separated keys: `*` (no `/`), `**` (anything), `?` (one
/// non-`/`); the pattern language of [`CachePolicy::rule`], for other per-path
/// rules (`ferry serve`'s headers, redirects, basic auth).
///
/// # Examples
///
/// ```
/// use ferry::cache::Glob;
/// let g = Glob::new("/admin/**")?;
/// assert!(g.matches("admin/users/1") && g.matches("admin/"));
/// assert!(!g.matches("public/admin/x"));
/// # Ok::<(), ferry::cache::GlobError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A glob from `pattern`, matched against keys without their leading `/`
    /// (so a leading `/` in the pattern is dropped).
    ///
    /// # Errors
    ///
    /// An empty pattern.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let p = pattern.trim_start_matches('/');
        if p.is_empty() {
            return Err(GlobError(pattern.to_owned()));
        }
        Ok(Glob(p.to_owned()))
    }

    /// Whether `key` (`/`-separated, no leading slash) matches.
    pub fn matches(&self, key: &str) -> bool {
        glob_match(self.0.as_bytes(), key.as_bytes())
    }
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', b'/', rest @ ..] => {
            // `**/` matches zero or more whole segments.
            glob_match(rest, s)
                || s.iter()
                    .enumerate()
                    .any(|(i, &c)| c == b'/' && glob_match(rest, &s[i + 1..]))
        }
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob_match(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let seg = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
            (0..=seg).any(|i| glob_match(rest, &s[i..]))
        }
        [b'?', rest @ ..] => matches!(s, [c, tail @ ..] if *c != b'/' && glob_match(rest, tail)),
        [c, rest @ ..] => matches!(s, [d, tail @ ..] if d == c && glob_match(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        for (name, want) in [
            ("app.3f9c2b1a.js", true),
            ("style.55e7cbb9ba48.css", true),
            ("main.3f9c2b1a5d6e7f80a1b2.bundle.js", true),
            ("index-D8bDIgVR.js", true),
            ("vendor-4sK3mF2z.css", true),
            ("app.js", false),
            ("index.html", false),
            ("my-document.pdf", false),
            ("photo-2024.jpg", false),
            ("jquery.min.js", false),
            ("report.final.pdf", false),
            ("deadbeef.js", false),
            // The bounds: 8 hex digits, 8 and 12 characters after the dash.
            ("app.3f9c2b1.js", false),
            ("index-D8bDIgV.js", false),
            ("index-D8bDIgVRa1b2.js", true),
            ("index-D8bDIgVRa1b2c.js", false),
            ("index-abcdefghij.js", false),
            (".hidden.3f9c2b1a.js", true),
            ("3f9c2b1a", false),
        ] {
            assert_eq!(is_fingerprinted(name), want, "{name}");
        }
    }

    /// The definition as first written (split on dots, then on `-`): the
    /// byte-level version above must agree with it on every name.
    fn reference(name: &str) -> bool {
        let dots = name.bytes().filter(|&b| b == b'.').count();
        if dots >= 2 {
            // The parts strictly between the first and the last dot.
            let inner = name.split('.').skip(1).take(dots - 1);
            if inner
                .into_iter()
                .any(|p| p.len() >= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return true;
            }
        }
        if dots >= 1 {
            let stem = name.split('.').next().unwrap_or("");
            if let Some((_, hash)) = stem.rsplit_once('-') {
                return (8..=12).contains(&hash.len())
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    && hash.bytes().any(|b| b.is_ascii_digit())
                    && hash.bytes().any(|b| b.is_ascii_alphabetic());
            }
        }
        false
    }

    proptest::proptest! {
        #[test]
        fn fingerprint_agrees_with_its_definition(
            name in "[a-zA-Z0-9._-]{0,24}|[a-z]{0,3}(-[0-9a-zA-Z_-]{6,13})?([.][0-9a-fA-F]{6,10}|[.][a-z]{0,3}){0,3}"
        ) {
            proptest::prop_assert_eq!(is_fingerprinted(&name), reference(&name), "{}", name);
        }
    }

    #[test]
    fn globs() {
        for (p, key, want) in [
            ("*.html", "index.html", true),
            ("*.html", "docs/index.html", false),
            ("**/*.html", "docs/index.html", true),
            ("**/*.html", "index.html", true),
            ("downloads/**", "downloads/a/b.zip", true),
            ("downloads/**", "other/a.zip", false),
            ("img/?.png", "img/a.png", true),
            ("img/?.png", "img/ab.png", false),
            ("a*b", "a/b", false),
        ] {
            assert_eq!(Glob(p.into()).matches(key), want, "{p} vs {key}");
        }
    }

    #[test]
    fn rules_then_fingerprint_then_default() {
        let p = CachePolicy::default()
            .rule("*.html", HeaderValue::from_static("max-age=5"))
            .unwrap();
        assert_eq!(p.for_key("index.html").unwrap(), "max-age=5");
        assert_eq!(p.for_key("a/app.3f9c2b1a.js").unwrap(), IMMUTABLE);
        assert_eq!(p.for_key("a/app.js").unwrap(), REVALIDATE);
        assert!(CachePolicy::none().for_key("a.js").is_none());
    }
}
