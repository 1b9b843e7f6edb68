//! A cache of open files and their metadata for [`FsStore`](super::FsStore),
//! invalidated by inotify so that a changed file is seen by the next request.
//!
//! Correctness comes first: an entry is only kept while the kernel watches
//! everything that could make it stale — the file's inode (writes through any
//! link, attribute changes, deletion) and every directory from the root down to
//! it (renames, creations, deletions of names). Every lookup first reads the
//! inotify descriptor (one `ioctl(FIONREAD)`); any event at all empties the
//! cache. The kernel queues an event before the modifying call returns, so a
//! request that starts after a change always finds it. Paths that go through a
//! symlink are never cached (a change at the target would not be seen), and
//! when a watch cannot be added the entry is simply not cached.
use super::fs::Opened;
use ferry_proto::ContentCoding;
use rustix::fs::inotify;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Entries kept at most; a full cache starts over (the hot set refills it).
const MAX_ENTRIES: usize = 1024;
/// Files up to this size are kept in memory too (at most 8 MiB in all), so a
/// hit is answered without reading the file.
const SMALL: u64 = 8 * 1024;

#[derive(Debug)]
pub(crate) struct OpenCache {
    inotify: OwnedFd,
    root: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By accepted codings, then by key: looked up without allocating.
    entries: FnvMap<u32, FnvMap<Box<str>, Opened>>,
    len: usize,
    watched: HashSet<PathBuf>,
}

const FILE_EVENTS: inotify::WatchFlags = inotify::WatchFlags::MODIFY
    .union(inotify::WatchFlags::ATTRIB)
    .union(inotify::WatchFlags::CLOSE_WRITE)
    .union(inotify::WatchFlags::DELETE_SELF)
    .union(inotify::WatchFlags::MOVE_SELF);

const DIR_EVENTS: inotify::WatchFlags = inotify::WatchFlags::CREATE
    .union(inotify::WatchFlags::DELETE)
    .union(inotify::WatchFlags::MOVED_FROM)
    .union(inotify::WatchFlags::MOVED_TO)
    .union(inotify::WatchFlags::ATTRIB)
    .union(inotify::WatchFlags::DELETE_SELF)
    .union(inotify::WatchFlags::MOVE_SELF)
    .union(inotify::WatchFlags::ONLYDIR);

/// The cache's maps hash with FNV-1a, not SipHash, which was a measurable
/// share of every hit: their keys are names of files that exist under the
/// root (nothing else is inserted), at most [`MAX_ENTRIES`] of them, so even
/// where clients choose file names (an upload directory) colliding names can
/// only slow lookups in a table of 1024, never grow it.
type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Which codings the request accepts, in order, as a number.
fn codings_key(codings: &[ContentCoding]) -> u32 {
    codings.iter().fold(0u32, |k, c| (k << 3) | (*c as u32 + 1))
}

impl OpenCache {
    /// A cache for files under the canonical `root`; `None` where inotify is
    /// not available.
    pub(crate) fn new(root: &Path) -> Option<Self> {
        let fd =
            inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).ok()?;
        Some(OpenCache {
            inotify: fd,
            root: root.to_owned(),
            state: Mutex::default(),
        })
    }

    /// The cached file for `key` and `codings` as a fresh entity, after
    /// applying every change the kernel has reported.
    pub(crate) fn entity(&self, key: &str, codings: &[ContentCoding]) -> Option<crate::Entity> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut state);
        state
            .entries
            .get(&codings_key(codings))?
            .get(key)
            .map(Opened::entity)
    }

    /// Keeps `opened` for `key`, when every path it depends on can be watched
    /// and none of them goes through a symlink.
    pub(crate) fn insert(&self, key: &str, codings: &[ContentCoding], opened: &Opened) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut state);
        if state.len >= MAX_ENTRIES {
            state.entries.clear();
            state.len = 0;
        }
        if self.watch_all(&mut state, opened) && self.still_current(opened) {
            let mut kept = opened.clone();
            kept.etag_value = Some(kept.etag.to_header_value());
            kept.compressible = Some(crate::mime::is_compressible(kept.content_type.as_bytes()));
            if kept.len <= SMALL {
                // Read with the watches in place: a write after this raises an
                // event, so the copy is never served stale.
                kept.contents = super::fs::read_small(&kept.file, kept.len);
                if !self.still_current(&kept) {
                    return;
                }
            }
            let old = state
                .entries
                .entry(codings_key(codings))
                .or_default()
                .insert(key.into(), kept);
            if old.is_none() {
                state.len += 1;
            }
        }
    }

    /// Drains the inotify queue; any event empties the cache.
    fn sync(&self, state: &mut State) {
        // The common case, nothing queued, is asked with FIONREAD: it only
        // takes the queue's lock, where a non-blocking `read` also joins and
        // leaves the wait queue (about 180 ns against 260 ns per request here).
        if matches!(rustix::io::ioctl_fionread(&self.inotify), Ok(0)) {
            return;
        }
        // Room for one event with the longest name (16 + 255 + 1 bytes); kept
        // small because it is cleared on every request.
        let mut buf = [0u8; 512];
        let mut changed = false;
        while let Ok(n) = rustix::io::read(&self.inotify, &mut buf) {
            if n == 0 {
                break;
            }
            changed = true;
        }
        if changed {
            state.entries.clear();
            state.len = 0;
            // Watches on deleted or replaced inodes are gone; re-adding one to
            // a live inode is harmless, so forget which were added.
            state.watched.clear();
        }
    }

    fn watch_all(&self, state: &mut State, opened: &Opened) -> bool {
        for path in &opened.paths {
            let Ok(rel) = path.strip_prefix(&self.root) else {
                return false;
            };
            // Every directory from the root down to the file's own.
            let mut dir = self.root.clone();
            if !self.watch(state, &dir, DIR_EVENTS) {
                return false;
            }
            let parts: Vec<_> = rel.components().collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                dir.push(part);
                if !self.watch(state, &dir, DIR_EVENTS) {
                    return false;
                }
            }
            if inotify::add_watch(
                &self.inotify,
                path.as_path(),
                FILE_EVENTS | inotify::WatchFlags::DONT_FOLLOW,
            )
            .is_err()
            {
                return false;
            }
        }
        true
    }

    fn watch(&self, state: &mut State, dir: &Path, flags: inotify::WatchFlags) -> bool {
        if state.watched.contains(dir) {
            return true;
        }
        let ok = inotify::add_watch(&self.inotify, dir, flags | inotify::WatchFlags::DONT_FOLLOW)
            .is_ok();
        if ok {
            state.watched.insert(dir.to_owned());
        }
        ok
    }

    /// With the watches in place: the open descriptor is still what its path
    /// names, reached without any symlink, and unchanged since it was opened.
    /// A change after this check raises an event; one before it fails it.
    fn still_current(&self, opened: &Opened) -> bool {
        let Some(path) = opened.paths.last() else {
            return false;
        };
        let fd_path = std::fs::read_link(format!("/proc/self/fd/{}", opened.file.as_raw_fd()));
        if fd_path.ok().as_deref() != Some(path.as_path()) {
            return false; // A symlink on the way, or the name moved.
        }
        let (Ok(now), Ok(by_path)) = (opened.file.metadata(), std::fs::symlink_metadata(path))
        else {
            return false;
        };
        use std::os::unix::fs::MetadataExt;
        by_path.is_file()
            && now.ino() == by_path.ino()
            && now.dev() == by_path.dev()
            && now.len() == opened.len
            && now.modified().ok() == opened.modified
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Key, Store};
    use crate::{Entity, FsStore};
    use ferry_proto::AcceptEncoding;
    use http_body_util::BodyExt;
    use std::path::Path;

    async fn open(store: &FsStore, key: &str, accept: &str) -> Option<(String, Entity)> {
        let mut h = http::HeaderMap::new();
        if !accept.is_empty() {
            h.insert(http::header::ACCEPT_ENCODING, accept.parse().unwrap());
        }
        let accept = AcceptEncoding::from_headers(&h);
        let key = Key::from_uri_path(key, crate::store::Hidden::Deny).unwrap();
        let e = store.open(&key, &accept).await.ok()?;
        let body = e.read(0..e.meta().len).collect().await.unwrap().to_bytes();
        Some((String::from_utf8_lossy(&body).into_owned(), e))
    }

    fn write(p: &Path, s: &str) {
        std::fs::write(p, s).unwrap();
    }

    /// Every way a served file can change is seen by the very next open.
    #[tokio::test]
    async fn a_change_is_seen_by_the_next_request() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        write(&root.join("sub/a.txt"), "one");
        let store = FsStore::new(root)
            .unwrap()
            .precompressed(true)
            .cache_open_files(true);
        for inline in [true, false] {
            let store = store.clone().inline_io(inline);
            write(&root.join("sub/a.txt"), "one");
            assert_eq!(open(&store, "/sub/a.txt", "").await.unwrap().0, "one");
            let tag = open(&store, "/sub/a.txt", "")
                .await
                .unwrap()
                .1
                .meta()
                .etag
                .clone();

            // Rewritten in place, same size, within the same second.
            write(&root.join("sub/a.txt"), "two");
            let (body, e) = open(&store, "/sub/a.txt", "").await.unwrap();
            assert_eq!(body, "two");
            assert_ne!(e.meta().etag, tag);

            // Replaced by rename, as deploy tools do.
            write(&root.join("sub/.new"), "three!");
            std::fs::rename(root.join("sub/.new"), root.join("sub/a.txt")).unwrap();
            assert_eq!(open(&store, "/sub/a.txt", "").await.unwrap().0, "three!");

            // Written through another hard link.
            std::fs::hard_link(root.join("sub/a.txt"), root.join("other")).unwrap();
            assert_eq!(open(&store, "/sub/a.txt", "").await.unwrap().0, "three!");
            write(&root.join("other"), "four!!");
            assert_eq!(open(&store, "/sub/a.txt", "").await.unwrap().0, "four!!");
            std::fs::remove_file(root.join("other")).unwrap();

            // A precompressed sibling appears, then goes.
            write(&root.join("sub/a.txt.gz"), "gzipped");
            assert_eq!(
                open(&store, "/sub/a.txt", "gzip").await.unwrap().0,
                "gzipped"
            );
            std::fs::remove_file(root.join("sub/a.txt.gz")).unwrap();
            assert_eq!(
                open(&store, "/sub/a.txt", "gzip").await.unwrap().0,
                "four!!"
            );

            // The directory above is renamed away.
            std::fs::rename(root.join("sub"), root.join("gone")).unwrap();
            assert!(open(&store, "/sub/a.txt", "").await.is_none());
            std::fs::rename(root.join("gone"), root.join("sub")).unwrap();

            // Deleted.
            assert!(open(&store, "/sub/a.txt", "").await.is_some());
            std::fs::remove_file(root.join("sub/a.txt")).unwrap();
            assert!(open(&store, "/sub/a.txt", "").await.is_none());
        }
    }

    /// A path through a symlink is never cached: its target changes elsewhere.
    #[tokio::test]
    async fn symlinked_paths_are_not_cached() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        write(&root.join("real/t.txt"), "one");
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let store = FsStore::new(root)
            .unwrap()
            .cache_open_files(true)
            .inline_io(true);
        assert_eq!(open(&store, "/link/t.txt", "").await.unwrap().0, "one");
        write(&root.join("real/t.txt"), "two");
        assert_eq!(open(&store, "/link/t.txt", "").await.unwrap().0, "two");
    }
}
