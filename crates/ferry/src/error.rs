//! Failures: what went wrong opening or streaming a representation.
use http::StatusCode;
use std::fmt;

/// An error from resolving, opening or streaming a representation.
///
/// `Display` is for operators and may name paths or keys; it is never written into
/// a response. Use [`Error::status`] to pick the response status.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such representation (also hidden files and symlinks leaving the root).
    NotFound,
    /// The request path can never name a file: traversal, NUL, encoded slash, non-UTF-8.
    InvalidPath,
    /// The file exists but may not be read; reported to clients as not found.
    PermissionDenied,
    /// The key names a directory (the caller may redirect or serve an index).
    IsDirectory,
    /// The store failed (an I/O error).
    Store,
    /// The store could not be reached or did not answer in time (object
    /// storage): the response is 502, as from a gateway whose upstream failed.
    Unavailable,
}

impl Error {
    /// Creates an error of `kind` with no underlying cause.
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, source: None }
    }

    /// Creates an error of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    /// The short plain-text response for this error (404, 400, 502, 500), the
    /// one the infallible services send: no detail of the failure in it. `head`
    /// drops the body.
    pub fn to_response(&self, head: bool) -> http::Response<crate::Body> {
        crate::service::error_response(self, std::time::SystemTime::now(), head, true)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The status of the response this error should produce.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::InvalidPath => StatusCode::BAD_REQUEST,
            ErrorKind::Store => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unavailable => StatusCode::BAD_GATEWAY,
            // Don't tell clients whether a hidden or forbidden path exists.
            ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::IsDirectory => {
                StatusCode::NOT_FOUND
            }
        }
    }

    /// Maps an I/O error from the file system: "not there" in any form is
    /// [`ErrorKind::NotFound`], never a 500.
    pub(crate) fn from_io(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::InvalidInput => ErrorKind::NotFound,
            _ => match e.raw_os_error() {
                // ENOTDIR, ELOOP, ENAMETOOLONG, EISDIR: the path cannot name a readable file.
                Some(20 | 40 | 36 | 21) => ErrorKind::NotFound,
                _ => ErrorKind::Store,
            },
        };
        Error::with_source(kind, e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidPath => "invalid path",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::IsDirectory => "is a directory",
            ErrorKind::Store => "store error",
            ErrorKind::Unavailable => "store unavailable",
        };
        match &self.source {
            Some(s) => write!(f, "{what}: {s}"),
            None => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
