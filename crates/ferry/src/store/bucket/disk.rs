//! The cache's files: one per object, a small header then the body.
//!
//! A file is written under a temporary name (`*.tmp`) and renamed when the
//! whole body is in, so a crash never leaves a half object under a final name.
//! The header records what the file claims to hold (the object's key: the
//! store's id and the object's path; its ETag,
//! Last-Modified, Content-Type, length) and a CRC-32 of the header and the
//! body, so a damaged key or ETag is never trusted either. Nothing here
//! is `fsync`ed: after a crash, a renamed file whose data did not reach the
//! disk fails its length or CRC check when it is first used, and is fetched
//! again, never served.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! 0   8  magic "FERRYC2\n" (another version's files are not read, and the
//!        cache removes them)
//! 8   4  header length h (the body starts at offset h)
//! 12  8  body length
//! 20  4  CRC-32 (IEEE) of the header, but for these 4 bytes and the next 8,
//!        then of the body
//! 24  8  when it was fetched or last revalidated, seconds since the epoch
//! 32  8  Last-Modified, seconds since the epoch
//! 40  4  Last-Modified, nanoseconds
//! 44  …  key, ETag, Content-Type: each a u16 length then UTF-8 bytes
//!        (an absent ETag or type is length 0xFFFF)
//! ```
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"FERRYC2\n";
/// The offset of the CRC in the header, patched once the body is in.
const CRC_AT: u64 = 20;
/// The offset of the fetch time, rewritten by a revalidation.
const FETCHED_AT: u64 = 24;
/// Where the header fields under the CRC resume, after the fetch time.
const FIELDS_AT: u64 = FETCHED_AT + 8;
/// Headers are small; anything longer is not ours.
const MAX_HEADER: usize = 8 * 1024;
const ABSENT: u16 = u16::MAX;

/// What one cache file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    /// The object's key in the cache: the store's id, a newline, and the
    /// object's path in the store (with the bucket prefix).
    pub(super) key: String,
    pub(super) e_tag: Option<String>,
    pub(super) last_modified: SystemTime,
    pub(super) content_type: Option<String>,
    pub(super) len: u64,
    pub(super) fetched: SystemTime,
}

/// A cache file found on disk or just written.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) record: Record,
    /// Where the body starts.
    pub(super) header_len: u64,
    pub(super) crc: u32,
    /// The file's name in the cache directory.
    pub(super) name: String,
}

fn secs(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        // Longer strings than a u16 holds are not kept (a 64 KiB ETag is not
        // one a store sends).
        Some(s) if s.len() < usize::from(ABSENT) => {
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        _ => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// The header for `r`, with a zero CRC (patched by [`Writer::finish`]).
fn header(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&r.len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&secs(r.fetched).0.to_le_bytes());
    let (s, n) = secs(r.last_modified);
    out.extend_from_slice(&s.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    put_str(&mut out, Some(&r.key));
    put_str(&mut out, r.e_tag.as_deref());
    put_str(&mut out, r.content_type.as_deref());
    let h = out.len() as u32;
    out[8..12].copy_from_slice(&h.to_le_bytes());
    out
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<Option<String>> {
        match self.u16()? {
            ABSENT => Some(None),
            n => Some(Some(
                std::str::from_utf8(self.take(n.into())?).ok()?.to_owned(),
            )),
        }
    }
}

/// Reads the header of the cache file `name` in `dir`; `None` for a file that
/// is not a complete cache file (wrong magic, bad header, a length that does
/// not match the file's size).
pub(super) fn read(dir: &Path, name: &str) -> Option<(Stored, File)> {
    let file = File::open(dir.join(name)).ok()?;
    let size = file.metadata().ok()?.len();
    let mut buf = vec![0u8; MAX_HEADER.min(size as usize)];
    file.read_exact_at(&mut buf, 0).ok()?;
    let mut c = Cursor(&buf);
    if c.take(8)? != MAGIC {
        return None;
    }
    let header_len = c.u32()?;
    let len = c.u64()?;
    let crc = c.u32()?;
    let fetched = UNIX_EPOCH.checked_add(Duration::from_secs(c.u64()?))?;
    let lm = UNIX_EPOCH.checked_add(Duration::new(c.u64()?, c.u32()?.min(999_999_999)))?;
    let key = c.string()??;
    let e_tag = c.string()?;
    let content_type = c.string()?;
    let header_len = u64::from(header_len);
    if buf.len() as u64 - c.0.len() as u64 != header_len || header_len.checked_add(len)? != size {
        return None;
    }
    let record = Record {
        key,
        e_tag,
        last_modified: lm,
        content_type,
        len,
        fetched,
    };
    Some((
        Stored {
            record,
            header_len,
            crc,
            name: name.to_owned(),
        },
        file,
    ))
}

/// Whether the body of `s` in `file` reads back at its length with its CRC:
/// `None` if not; else a small body (up to [`super::cache::SMALL`]) as read.
pub(super) fn verify(file: &File, s: &Stored) -> Option<Option<bytes::Bytes>> {
    let mut crc = Crc::new();
    let mut header = vec![0u8; usize::try_from(s.header_len).ok()?];
    file.read_exact_at(&mut header, 0).ok()?;
    crc.header(&header)?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut at, end) = (s.header_len, s.header_len + s.record.len);
    let mut small = (s.record.len <= super::cache::SMALL).then(Vec::new);
    while at < end {
        let n = (end - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at).ok()?;
        crc.update(&buf[..n]);
        if let Some(v) = &mut small {
            v.extend_from_slice(&buf[..n]);
        }
        at += n as u64;
    }
    let whole = file.metadata().is_ok_and(|m| m.len() == end) && crc.finish() == s.crc;
    whole.then(|| small.map(bytes::Bytes::from))
}

/// Records a revalidation in the file, so a restart knows its age.
pub(super) fn touch(file: &File, at: SystemTime) {
    let _ = file.write_all_at(&secs(at).0.to_le_bytes(), FETCHED_AT);
}

/// A cache file being written under a temporary name.
pub(super) struct Writer {
    /// Taken by [`Writer::finish`].
    file: Option<File>,
    tmp: PathBuf,
    header_len: u64,
    record: Record,
    written: u64,
    crc: Crc,
}

impl Writer {
    /// Creates `name.tmp` in `dir` and writes the header for `record`.
    pub(super) fn create(dir: &Path, name: &str, record: Record) -> io::Result<Self> {
        let tmp = dir.join(format!("{name}.tmp"));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let h = header(&record);
        file.write_all(&h)?;
        let mut crc = Crc::new();
        crc.header(&h)
            .ok_or_else(|| io::Error::other("cache file header too short"))?;
        Ok(Writer {
            file: Some(file),
            tmp,
            header_len: h.len() as u64,
            record,
            written: 0,
            crc,
        })
    }

    /// Appends body bytes; more than the record's length is an error.
    pub(super) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.written += chunk.len() as u64;
        if self.written > self.record.len {
            return Err(io::Error::other("object longer than its metadata said"));
        }
        self.crc.update(chunk);
        match &mut self.file {
            Some(f) => f.write_all(chunk),
            None => Err(io::Error::other("cache file already finished")),
        }
    }

    /// Checks the length, writes the CRC and renames the file to `name`:
    /// from now on it is a complete cache file.
    pub(super) fn finish(mut self, name: &str) -> io::Result<(Stored, File)> {
        if self.written != self.record.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "object shorter than its metadata said",
            ));
        }
        let crc = self.crc.finish();
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("cache file already finished"))?;
        file.write_all_at(&crc.to_le_bytes(), CRC_AT)?;
        std::fs::rename(&self.tmp, self.tmp.with_file_name(name))?;
        self.tmp = PathBuf::new();
        Ok((
            Stored {
                record: self.record.clone(),
                header_len: self.header_len,
                crc,
                name: name.to_owned(),
            },
            file,
        ))
    }
}

impl Drop for Writer {
    /// An unfinished file is removed.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib computes it.
pub(super) struct Crc(u32);

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

impl Crc {
    pub(super) fn new() -> Self {
        Crc(!0)
    }
    pub(super) fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }
    pub(super) fn finish(&self) -> u32 {
        !self.0
    }
    /// Adds a cache file's header, but for its CRC and fetch time (`None`
    /// when it is too short to have them).
    fn header(&mut self, h: &[u8]) -> Option<()> {
        self.update(h.get(..CRC_AT as usize)?);
        self.update(h.get(FIELDS_AT as usize..)?);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: u64) -> Record {
        Record {
            key: "InMemory\nsite/a.txt".into(),
            e_tag: Some("\"abc\"".into()),
            last_modified: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
            content_type: None,
            len,
            fetched: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    #[test]
    fn crc32_check_value() {
        // The CRC-32 check value: the CRC of the ASCII digits "123456789".
        let mut c = Crc::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn written_files_read_back_and_damage_is_seen() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Writer::create(d.path(), "n1", record(5)).unwrap();
        w.write(b"hel").unwrap();
        w.write(b"lo").unwrap();
        let (s, f) = w.finish("n1").unwrap();
        assert!(!d.path().join("n1.tmp").exists());
        assert!(verify(&f, &s).is_some());
        let (back, f) = read(d.path(), "n1").unwrap();
        assert_eq!((&back.record, back.crc), (&record(5), s.crc));
        assert_eq!(
            verify(&f, &back),
            Some(Some(bytes::Bytes::from_static(b"hello")))
        );

        // The same length, other bytes: the CRC tells.
        let f = File::options()
            .write(true)
            .read(true)
            .open(d.path().join("n1"))
            .unwrap();
        f.write_all_at(b"J", back.header_len).unwrap();
        assert!(verify(&f, &back).is_none());
        // Truncated: the header no longer matches the size.
        f.set_len(back.header_len + 2).unwrap();
        assert!(read(d.path(), "n1").is_none());
        std::fs::write(d.path().join("junk"), b"not a cache file").unwrap();
        assert!(read(d.path(), "junk").is_none());
    }

    #[test]
    fn a_damaged_header_is_seen_and_never_panics() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Writer::create(d.path(), "n4", record(5)).unwrap();
        w.write(b"hello").unwrap();
        let (s, w) = w.finish("n4").unwrap();
        // A revalidation rewrites the fetch time: the CRC still holds.
        touch(&w, UNIX_EPOCH + Duration::from_secs(1_900_000_000));
        let (back, f) = read(d.path(), "n4").unwrap();
        assert!(verify(&f, &back).is_some());
        // The ETag's bytes changed: read, but not verified.
        w.write_all_at(b"X", s.header_len - 3).unwrap();
        let (back, f) = read(d.path(), "n4").unwrap();
        assert_ne!(back.record.e_tag, record(5).e_tag);
        assert!(verify(&f, &back).is_none());
        // A fetch time past what a `SystemTime` holds: not a cache file.
        w.write_all_at(&[0xFF; 8], FETCHED_AT).unwrap();
        assert!(read(d.path(), "n4").is_none());
    }

    #[test]
    fn a_short_or_long_body_is_never_renamed() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Writer::create(d.path(), "n2", record(5)).unwrap();
        w.write(b"hel").unwrap();
        assert!(w.finish("n2").is_err());
        assert!(!d.path().join("n2").exists() && !d.path().join("n2.tmp").exists());
        let mut w = Writer::create(d.path(), "n3", record(2)).unwrap();
        assert!(w.write(b"hel").is_err());
        drop(w);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
