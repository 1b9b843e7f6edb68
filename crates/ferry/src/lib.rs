//! Serve files over HTTP exactly right.
//!
//! ferry answers GET and HEAD for files the way RFC 9110 asks: `304 Not
//! Modified` and `412 Precondition Failed` from the precondition engine
//! (§13), byte ranges and multipart/byteranges (§14), precompressed variants,
//! validators that are stable across restarts and replicas, and bodies streamed
//! with bounded memory.
//!
//! - [`serve_file`]: the call a web app makes after checking a permission (the
//!   equivalent of Django's `sendfile(request, path)`).
//! - [`ServeDir`]: a directory (or any [`Store`]) as a tower `Service`.
//! - [`ServeFile`]: one file as a tower `Service`.
//! - [`proto`]: the pure protocol logic these are built on.
//!
//! Every decision is made by [`proto::plan()`] from the request head and the
//! representation's metadata before any body byte is read.
//!
//! # Features
//!
//! - `fs` (default): the local file-system store, [`FsStore`].
//! - `compress`: on-the-fly compression of text (zstd, brotli, gzip) with a
//!   bounded cache of the coded variants, [`ServeDir::compress`].
//! - `test-util`: an in-memory store, the store conformance suite and
//!   `ferry::check`, the invariants of the final answer (for tests and fuzzing).
//!
//! # Deviations and choices
//!
//! - HEAD takes the GET path, ranges included: a HEAD with `Range` gets the head
//!   of the 206 a GET would get.
//! - A multi-range request for a content-coded representation (a precompressed
//!   variant, or a [`sendfile`] file with `SendOptions::encoding`) is answered
//!   with the whole representation (200): `plan` decides it from
//!   [`proto::Meta::coded`], and nothing after `plan` changes its answer.
//! - `X-Sendfile` / `X-LIGHTTPD-send-file` values are percent-decoded, as
//!   Apache's mod_xsendfile (`XSendFileUnescape`, on by default) and lighttpd do.
//! - Malformed request paths (traversal, NUL, encoded slashes) are 400; hidden,
//!   unreadable and outside-the-root files are 404, never a hint they exist.
//! - On-the-fly compression (feature `compress`) never codes a response to a
//!   `Range` request: ranges are of the identity bytes, see
//!   [`proto::plan::on_the_fly`].
//! - Object storage: an object stored without a type of its own (S3's
//!   `binary/octet-stream`, Azure's `application/octet-stream`) gets the type
//!   of its key's extension, as a file would.
//! - Object storage with a disk cache: a miss fetches the whole object (one
//!   GET, whose response also carries the metadata the decision needs), even
//!   when the request turns out to be a 304, 412 or 416: the object is then
//!   cached, and the next such request costs no request to the store. A cold
//!   object is answered once it is complete on disk (concurrent misses share
//!   that one GET); RFC 5861's `stale-if-error` is an operator's setting,
//!   not read from responses.
//! - See also [`proto`]'s list.

#![forbid(unsafe_code)]

pub use ferry_proto as proto;

mod body;
mod browse;
pub mod cache;
#[cfg(any(test, feature = "test-util"))]
pub mod check;
#[cfg(feature = "compress")]
pub mod compress;
pub mod disposition;
mod entity;
mod error;
#[cfg(feature = "fs")]
mod file_service;
#[cfg(all(feature = "fs", any(test, feature = "test-util")))]
pub mod fuzz;
pub mod mime;
mod respond;
#[cfg(feature = "fs")]
pub mod sendfile;
mod service;
pub mod store;

pub use body::Body;
pub use entity::{Entity, Source};
pub use error::{Error, ErrorKind};
#[cfg(feature = "fs")]
pub use file_service::ServeFile;
pub use respond::recycle_headers;
#[cfg(feature = "fs")]
pub use sendfile::{serve_file, try_serve_file};
pub use service::{ResponseFuture, ServeDir};
#[cfg(feature = "fs")]
pub use store::fs::FsStore;
pub use store::{Key, Store};
