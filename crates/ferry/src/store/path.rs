//! From a URL path to a safe store key.
//!
//! The path is percent-decoded exactly once and split into segments; every segment
//! that could leave the root or name something other than a plain file name is
//! rejected here, before any store sees it. This module never performs I/O.
use crate::{Error, ErrorKind};
use percent_encoding::percent_decode;

/// Longest key accepted (decoded, without empty and `.` segments or the outer
/// slashes); longer paths are [`ErrorKind::NotFound`].
pub const MAX_PATH_LEN: usize = 4096;

/// A validated, relative key: `/`-separated, non-empty segments, none of them `.`,
/// `..`, empty, or containing `\`, NUL, or `:`.
///
/// A trailing slash in the URL path is kept as [`Key::is_dir`], so `/docs/` maps
/// to the key `docs` with `is_dir() == true` and `/` to the empty key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    key: String,
    dir: bool,
}

/// Whether keys whose segments start with `.` may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Hidden {
    /// Dot-segments are not found, except a leading `.well-known` (RFC 8615).
    #[default]
    Deny,
    /// Dot-segments are served like any other name.
    Allow,
}

impl Key {
    /// Parses the path component of a request URI (still percent-encoded).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`] (400) for a path that does not start with `/`, that
    /// contains an encoded `/` or `\`, a backslash, NUL or another control character,
    /// a `..` segment, a drive letter, or that does not decode to UTF-8.
    /// [`ErrorKind::NotFound`] (404) for a hidden segment when `hidden` is
    /// [`Hidden::Deny`], and for paths longer than [`MAX_PATH_LEN`].
    pub fn from_uri_path(path: &str, hidden: Hidden) -> Result<Key, Error> {
        match Key::from_plain_path(path, hidden) {
            Some(key) => key,
            None => Key::from_any_path(path, hidden),
        }
    }

    /// [`Key::from_uri_path`] for the paths nearly every request has: visible
    /// ASCII without `%`, `\` or `:`, so nothing to decode and no byte to refuse.
    /// The segments are checked in one pass and the key built in one allocation.
    ///
    /// `None` as soon as another byte turns up; [`Key::from_any_path`] then reads
    /// the path from the start. Segments before that byte got the same verdicts
    /// they get there, in the same order, so an earlier error is the same error.
    fn from_plain_path(path: &str, hidden: Hidden) -> Option<Result<Key, Error>> {
        let rest = path.strip_prefix('/')?;
        let bytes = rest.as_bytes();
        let mut key = String::with_capacity(rest.len());
        let mut dir = rest.is_empty();
        let mut start = 0;
        for at in 0..=bytes.len() {
            match bytes.get(at) {
                None | Some(b'/') => {}
                // Something to decode or to refuse: `%`, `\`, `:`, control
                // characters, DEL, non-ASCII.
                Some(b'%' | b'\\' | b':' | 0..=0x1f | 0x7f..=0xff) => return None,
                Some(_) => continue,
            }
            let seg = &rest[start..at];
            start = at + 1;
            match seg {
                "" | "." => {
                    dir = true;
                    continue;
                }
                ".." => return Some(Err(Error::new(ErrorKind::InvalidPath))),
                _ => {}
            }
            dir = false;
            if too_long(&key, seg) {
                return Some(Err(Error::new(ErrorKind::NotFound)));
            }
            if seg.starts_with('.')
                && hidden == Hidden::Deny
                && !(key.is_empty() && seg == ".well-known")
            {
                return Some(Err(Error::new(ErrorKind::NotFound)));
            }
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(seg);
        }
        Some(Ok(Key { key, dir }))
    }

    /// [`Key::from_uri_path`] for any path: percent-decodes each segment, then
    /// checks it.
    fn from_any_path(path: &str, hidden: Hidden) -> Result<Key, Error> {
        let invalid = || Error::new(ErrorKind::InvalidPath);
        let rest = path.strip_prefix('/').ok_or_else(invalid)?;
        let mut key = String::with_capacity(rest.len());
        let mut dir = rest.is_empty();
        for raw in rest.split('/') {
            // An encoded slash would turn one segment into two after decoding.
            if raw.contains("%2f") || raw.contains("%2F") {
                return Err(invalid());
            }
            let seg = percent_decode(raw.as_bytes())
                .decode_utf8()
                .map_err(|_| invalid())?;
            match &*seg {
                // `a//b` and `a/./b` are the same file on disk; accept them but never
                // let them matter. A trailing empty segment marks a directory.
                "" | "." => {
                    dir = true;
                    continue;
                }
                ".." => return Err(invalid()),
                _ => {}
            }
            dir = false;
            if too_long(&key, &seg) {
                return Err(Error::new(ErrorKind::NotFound));
            }
            if seg.chars().any(|c| c.is_control() || c == '\\' || c == ':') {
                // Control characters (C0, DEL and C1, as documented), NUL,
                // backslashes and drive letters (`C:`) or alternate data
                // streams (`a:b`) are never names we serve.
                return Err(invalid());
            }
            if seg.starts_with('.')
                && hidden == Hidden::Deny
                && !(key.is_empty() && seg == ".well-known")
            {
                return Err(Error::new(ErrorKind::NotFound));
            }
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(&seg);
        }
        Ok(Key { key, dir })
    }

    /// Builds a key from a relative path given by an application (not a URL):
    /// the same rules, without percent-decoding.
    ///
    /// # Errors
    ///
    /// As [`Key::from_uri_path`].
    pub fn from_relative(path: &str, hidden: Hidden) -> Result<Key, Error> {
        let encoded: String =
            percent_encoding::utf8_percent_encode(path.trim_start_matches('/'), SEGMENT).collect();
        Key::from_uri_path(&format!("/{encoded}"), hidden)
    }

    /// The key, `/`-separated, without leading or trailing slash; empty for the root.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// Whether the URL path ended with `/` (or was `/`).
    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// The key of `name` inside this directory key.
    pub fn join(&self, name: &str) -> Key {
        let key = if self.key.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.key)
        };
        Key { key, dir: false }
    }
}

/// Whether adding `seg` to `key` makes it longer than [`MAX_PATH_LEN`].
fn too_long(key: &str, seg: &str) -> bool {
    key.len() + usize::from(!key.is_empty()) + seg.len() > MAX_PATH_LEN
}

/// Characters escaped when re-encoding an application path: everything but
/// unreserved characters and `/`, so that `%` in a file name stays literal.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[cfg(test)]
mod tests;
