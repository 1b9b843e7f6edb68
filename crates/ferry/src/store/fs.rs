//! The local file system store.
//!
//! Opens, stats and streams files under a root directory. Blocking calls run on
//! tokio's blocking pool, never on a runtime worker, unless
//! [`FsStore::inline_io`] asks for them to run in place.
use crate::mime::MimeTable;
use crate::store::{DirEntry, Key, ListFuture, OpenFuture, Store};
use crate::{Entity, Error, ErrorKind};
use bytes::Bytes;
use ferry_proto::{AcceptEncoding, ContentCoding, EntityTag};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

mod source;
use source::FsSource;
pub(crate) use source::{read_small, FileBody, InMemory};

/// Files under one root directory.
///
/// Symlinks that resolve outside the root are not found unless
/// [`FsStore::follow_symlinks`] allows them. Precompressed siblings (`a.css.br`,
/// `a.css.zst`, `a.css.gz`) are served when [`FsStore::precompressed`] is on and the
/// request accepts their coding; a sibling is never served without its original.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<Path>,
    /// The root, open, for `openat2(RESOLVE_BENEATH)`.
    root_fd: Option<Arc<std::os::fd::OwnedFd>>,
    follow_symlinks: bool,
    precompressed: bool,
    inline: bool,
    types: Arc<MimeTable>,
    cache: Option<Arc<super::open_cache::OpenCache>>,
}

impl FsStore {
    /// A store serving the directory `root`.
    ///
    /// # Errors
    ///
    /// Fails when `root` does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref();
        let canonical = std::fs::canonicalize(root)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let root_fd = File::open(&canonical).ok().map(|f| Arc::new(f.into()));
        Ok(FsStore {
            root: canonical.into(),
            root_fd,
            follow_symlinks: false,
            precompressed: false,
            inline: false,
            types: Arc::default(),
            cache: None,
        })
    }

    /// Runs open and stat in the calling task instead of on tokio's blocking pool
    /// (off by default).
    ///
    /// Right for a thread-per-core server on a local disk, where an open and a
    /// stat take microseconds and a hop to another thread costs more than the
    /// call; wrong for network file systems, where a call can block for long.
    /// Streaming a body still reads on the blocking pool.
    #[must_use]
    pub fn inline_io(mut self, on: bool) -> Self {
        self.inline = on;
        self
    }

    /// Serves files whose symlinks resolve outside the root (off by default).
    #[must_use]
    pub fn follow_symlinks(mut self, on: bool) -> Self {
        self.follow_symlinks = on;
        self
    }

    /// Serves precompressed siblings when the request accepts them (off by default).
    #[must_use]
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// Keeps recently served files open, with their metadata, until the kernel
    /// reports a change to them (off by default; Linux, through inotify; a no-op
    /// where inotify cannot be initialised).
    ///
    /// A hit costs no `open`, `stat` or `close`. inotify watches the file and
    /// every directory above it, and each lookup first applies the events the
    /// kernel has queued, so a file changed before a request starts is seen by
    /// that request; paths through symlinks are never cached. It holds up to
    /// 1024 descriptors, so raise `RLIMIT_NOFILE` accordingly.
    #[must_use]
    pub fn cache_open_files(mut self, on: bool) -> Self {
        self.cache = if on {
            super::open_cache::OpenCache::new(&self.root).map(Arc::new)
        } else {
            None
        };
        self
    }

    /// Whether recently served files are kept open: [`FsStore::cache_open_files`]
    /// asked for it and inotify could be set up (it fails when the user's
    /// inotify instances or watches run out).
    pub fn caches_open_files(&self) -> bool {
        self.cache.is_some()
    }

    /// Content types by extension, with overrides.
    #[must_use]
    pub fn content_types(mut self, table: MimeTable) -> Self {
        self.types = Arc::new(table);
        self
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }
}

impl Store for FsStore {
    fn open<'a>(&'a self, key: &'a Key, accept: &'a AcceptEncoding) -> OpenFuture<'a> {
        let codings: Vec<ContentCoding> = if self.precompressed {
            accept.preferred().collect()
        } else {
            Vec::new()
        };
        let precompressed = self.precompressed;
        if self.inline {
            // A hit costs a lookup and no path arithmetic.
            let res = match self.cache.as_deref() {
                Some(c) => match c.entity(key.as_str(), &codings) {
                    Some(e) => Ok(e),
                    None => open_cached(
                        &self.path_of(key),
                        Beneath::new(self, key).as_ref(),
                        &codings,
                        &self.types,
                        Some(c),
                        key.as_str(),
                    ),
                },
                None => open_path_in(
                    &self.path_of(key),
                    Beneath::new(self, key).as_ref(),
                    &codings,
                    &self.types,
                ),
            };
            return OpenFuture::ready(res.map(|e| e.vary_encoding(precompressed)));
        }
        let path = self.path_of(key);
        let beneath = Beneath::new(self, key);
        let types = self.types.clone();
        let cache = self.cache.clone();
        let name = key.as_str().to_owned();
        OpenFuture::new(async move {
            let entity = blocking(move || {
                if let Some(e) = cache.as_deref().and_then(|c| c.entity(&name, &codings)) {
                    return Ok(e);
                }
                open_cached(
                    &path,
                    beneath.as_ref(),
                    &codings,
                    &types,
                    cache.as_deref(),
                    &name,
                )
            })
            .await?;
            Ok(entity.vary_encoding(precompressed))
        })
    }

    fn list<'a>(&'a self, key: &'a Key) -> ListFuture<'a> {
        let (root, dir, follow) = (self.root.clone(), self.path_of(key), self.follow_symlinks);
        ListFuture::new(blocking(move || {
            FsStore::list_blocking(&root, &dir, follow)
        }))
    }
}

impl FsStore {
    fn list_blocking(root: &Path, dir: &Path, follow: bool) -> Result<Vec<DirEntry>, Error> {
        let meta = std::fs::metadata(dir).map_err(Error::from_io)?;
        if !meta.is_dir() {
            return Err(Error::new(ErrorKind::NotFound));
        }
        if !follow && !std::fs::canonicalize(dir).is_ok_and(|p| p.starts_with(root)) {
            return Err(Error::new(ErrorKind::NotFound));
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::from_io)? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue; // Names that are not UTF-8 cannot be linked to.
            };
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_symlink()
                && !follow
                && !std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(root))
            {
                continue; // Never list what would be 404.
            }
            // Follows symlinks: an entry is listed as what it points to.
            let Ok(m) = std::fs::metadata(&path) else {
                continue;
            };
            if !(m.is_file() || m.is_dir()) {
                continue;
            }
            out.push(DirEntry::new(
                name,
                m.is_dir(),
                if m.is_dir() { 0 } else { m.len() },
                m.modified().ok(),
            ));
        }
        Ok(out)
    }
}

/// Runs blocking file-system work off the runtime's workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::with_source(ErrorKind::Store, e)))
}

/// What confines an open to the store's root: the root's path (checked after
/// the open) and, where the kernel has `openat2`, the root's descriptor and the
/// key relative to it, resolved with `RESOLVE_BENEATH` in the same call.
pub(crate) struct Beneath {
    root: Arc<Path>,
    fd: Option<Arc<std::os::fd::OwnedFd>>,
    rel: String,
}

impl Beneath {
    fn new(store: &FsStore, key: &Key) -> Option<Self> {
        (!store.follow_symlinks).then(|| Beneath {
            root: store.root.clone(),
            fd: store.root_fd.clone(),
            rel: key.as_str().to_owned(),
        })
    }
}

/// Opens the regular file at `path` (or its best precompressed sibling among
/// `codings`), checking that it resolves inside `root` when given.
pub(crate) fn open_path(
    path: &Path,
    root: Option<&Path>,
    codings: &[ContentCoding],
    types: &MimeTable,
) -> Result<Entity, Error> {
    let beneath = root.map(|r| Beneath {
        root: r.into(),
        fd: None,
        rel: String::new(),
    });
    open_path_in(path, beneath.as_ref(), codings, types)
}

fn open_path_in(
    path: &Path,
    root: Option<&Beneath>,
    codings: &[ContentCoding],
    types: &MimeTable,
) -> Result<Entity, Error> {
    open_file_in(path, root, codings, types).map(|o| o.entity())
}

/// [`open_path_in`], keeping what it opened in the open-file cache, when there
/// is one (the caller has looked it up already).
fn open_cached(
    path: &Path,
    root: Option<&Beneath>,
    codings: &[ContentCoding],
    types: &MimeTable,
    cache: Option<&super::open_cache::OpenCache>,
    key: &str,
) -> Result<Entity, Error> {
    let Some(cache) = cache else {
        return open_path_in(path, root, codings, types);
    };
    let opened = open_file_in(path, root, codings, types)?;
    cache.insert(key, codings, &opened);
    Ok(opened.entity())
}

/// A file opened for serving: the selected representation, before it becomes an
/// [`Entity`]. The open-file cache keeps these.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) file: Arc<File>,
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) etag: EntityTag,
    pub(crate) content_type: http::HeaderValue,
    pub(crate) coding: Option<ContentCoding>,
    /// What was opened: the identity file, then the variant if one was chosen.
    pub(crate) paths: Vec<PathBuf>,
    /// Kept by the open-file cache: the ETag formatted, and the contents of a
    /// small file, so a hit costs no formatting and no read.
    pub(crate) etag_value: Option<http::HeaderValue>,
    pub(crate) contents: Option<Bytes>,
    /// Kept by the open-file cache: whether on-the-fly compression applies
    /// to the type ([`crate::mime::is_compressible`]), decided once.
    pub(crate) compressible: Option<bool>,
}

impl Opened {
    pub(crate) fn entity(&self) -> Entity {
        let mut e = match &self.contents {
            Some(b) => Entity::new(self.len, InMemory(b.clone())),
            None => Entity::new(
                self.len,
                FsSource {
                    file: self.file.clone(),
                },
            ),
        }
        .etag(self.etag.clone())
        .content_type(self.content_type.clone());
        if let Some(v) = &self.etag_value {
            e = e.etag_value(v.clone());
        }
        if let Some(t) = self.modified {
            e = e.last_modified(t);
        }
        if let Some(c) = self.coding {
            e = e.coding(c);
        }
        e.compressible = self.compressible;
        e
    }
}

pub(crate) fn open_file_in(
    path: &Path,
    root: Option<&Beneath>,
    codings: &[ContentCoding],
    types: &MimeTable,
) -> Result<Opened, Error> {
    let (file, meta) = open_regular(path, root, "")?;
    let content_type = types.for_path(path);
    for &coding in codings {
        let mut name = path.as_os_str().to_owned();
        name.push(coding.extension());
        if let Ok((vfile, vmeta)) = open_regular(Path::new(&name), root, coding.extension()) {
            // §8.8.3: each variant has its own entity tag, distinct from identity's.
            let tag = file_etag(&vmeta).for_coding(coding);
            return Ok(Opened {
                file: Arc::new(vfile),
                len: vmeta.len(),
                modified: vmeta.modified().ok(),
                etag: tag,
                content_type,
                coding: Some(coding),
                paths: vec![path.to_owned(), PathBuf::from(name)],
                etag_value: None,
                contents: None,
                compressible: None,
            });
        }
    }
    Ok(Opened {
        file: Arc::new(file),
        len: meta.len(),
        modified: meta.modified().ok(),
        etag: file_etag(&meta),
        content_type,
        coding: None,
        paths: vec![path.to_owned()],
        etag_value: None,
        contents: None,
        compressible: None,
    })
}

fn file_etag(meta: &std::fs::Metadata) -> EntityTag {
    EntityTag::from_len_mtime(
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    )
}

fn open_regular(
    path: &Path,
    root: Option<&Beneath>,
    suffix: &str,
) -> Result<(File, std::fs::Metadata), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(b) = root {
        if let Some(fd) = &b.fd {
            let rel = format!("{}{suffix}", b.rel);
            match open_beneath(fd, if rel.is_empty() { "." } else { &rel }) {
                // Confined by the kernel: no check after the open is needed.
                Ok(file) => return regular(file),
                // EXDEV: the path left the root on the way (an absolute symlink,
                // perhaps one back into the root): decide with the slow check
                // below. ENOSYS, EPERM, EINVAL: a kernel (or sandbox) without
                // openat2. Anything else is the answer.
                Err(e)
                    if ![
                        rustix::io::Errno::XDEV,
                        rustix::io::Errno::NOSYS,
                        rustix::io::Errno::PERM,
                        rustix::io::Errno::INVAL,
                        rustix::io::Errno::AGAIN,
                    ]
                    .contains(&e) =>
                {
                    return Err(Error::from_io(io::Error::from_raw_os_error(
                        e.raw_os_error(),
                    )));
                }
                Err(_) => {}
            }
        }
    }
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it has no effect on
    // reads of regular files.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(Error::from_io)?;
    let (file, meta) = regular(file)?;
    if let Some(root) = root {
        if !resolves_inside(&file, path, &root.root) {
            return Err(Error::new(ErrorKind::NotFound));
        }
    }
    Ok((file, meta))
}

/// `openat2(root, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: one syscall
/// that cannot resolve outside the root, whatever symlinks are swapped in.
fn open_beneath(root: &std::os::fd::OwnedFd, rel: &str) -> rustix::io::Result<File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let fd = rustix::fs::openat2(
        root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )?;
    Ok(File::from(fd))
}

/// The file's metadata, when it is a regular file.
fn regular(file: File) -> Result<(File, std::fs::Metadata), Error> {
    let meta = file.metadata().map_err(Error::from_io)?;
    if meta.is_dir() {
        return Err(Error::new(ErrorKind::IsDirectory));
    }
    if !meta.is_file() {
        // FIFOs, devices and sockets have no stable length: never serve them.
        return Err(Error::new(ErrorKind::NotFound));
    }
    Ok((file, meta))
}

/// Whether the opened file really lives under `root`, after every symlink.
fn resolves_inside(file: &File, path: &Path, root: &Path) -> bool {
    use std::os::fd::AsRawFd;
    // Asking the kernel where the open descriptor points is one syscall and cannot
    // race with a symlink swapped after the open.
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .or_else(|_| std::fs::canonicalize(path));
    real.is_ok_and(|p| p.starts_with(root))
}
