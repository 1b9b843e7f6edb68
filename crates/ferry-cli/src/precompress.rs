//! `ferry precompress DIR`: writes `x.br`, `x.zst` and `x.gz` next to each
//! compressible file, for `ferry serve` to pick by Accept-Encoding.
//!
//! For each file and coding it decides whether the sibling is up to date (its
//! mtime equals the original's, because it is set so when written), worth
//! keeping (meaningfully smaller), or stale. Stale siblings are removed:
//! `ferry serve` sends a sibling without comparing it with its original, so an
//! old one would serve old bytes. Files whose type is not compressible, and
//! anything outside DIR, are never touched.
use crate::args::{Format, PrecompressArgs};
use anyhow::{bail, Context as _};
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, BufReader, BufWriter, IsTerminal as _, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Brotli's best quality; `lgwin` 22 is a 4 MiB window, the encoder's default.
const BROTLI_QUALITY: i32 = 11;
const BROTLI_LGWIN: i32 = 22;
/// The highest level below zstd's "ultra" levels: its window is at most 8 MiB,
/// the most a browser must accept ("Window_Size … MUST NOT exceed 8 MB", RFC 9659).
const ZSTD_LEVEL: i32 = 19;
const GZIP_LEVEL: u32 = 9;

/// A sibling is kept only when it is at most 95% of the original…
const KEEP_RATIO: (u64, u64) = (19, 20);
/// …and saves at least this many bytes.
const KEEP_MIN_SAVING: u64 = 32;

impl Format {
    /// The suffix `ferry serve` looks for.
    fn extension(self) -> &'static str {
        match self {
            Format::Br => "br",
            Format::Zstd => "zst",
            Format::Gzip => "gz",
        }
    }

    /// The content coding (RFC 9110 §8.4.1) this format makes.
    pub(crate) fn coding(self) -> ferry::proto::ContentCoding {
        use ferry::proto::ContentCoding;
        match self {
            Format::Br => ContentCoding::Br,
            Format::Zstd => ContentCoding::Zstd,
            Format::Gzip => ContentCoding::Gzip,
        }
    }

    /// The coding's name: `br`, `zstd`, `gzip`.
    fn name(self) -> &'static str {
        self.coding().as_str()
    }

    fn compress(self, src: &mut impl Read, dst: &mut impl Write, len: u64) -> io::Result<()> {
        match self {
            Format::Br => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: BROTLI_QUALITY,
                    lgwin: BROTLI_LGWIN,
                    size_hint: usize::try_from(len).unwrap_or(usize::MAX),
                    ..Default::default()
                };
                brotli::BrotliCompress(src, dst, &params).map(drop)
            }
            Format::Zstd => zstd::stream::copy_encode(src, dst, ZSTD_LEVEL),
            Format::Gzip => {
                // No file name and mtime 0 in the header: the output depends only
                // on the content.
                let level = flate2::Compression::new(GZIP_LEVEL);
                let mut enc = flate2::write::GzEncoder::new(dst, level);
                io::copy(src, &mut enc)?;
                enc.finish().map(drop)
            }
        }
    }
}

/// Whether `name` is itself a sibling (`.br`, `.zst`, `.gz`), never compressed again.
fn is_variant(name: &OsStr) -> bool {
    Path::new(name)
        .extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| {
            ["br", "zst", "gz"]
                .iter()
                .any(|v| e.eq_ignore_ascii_case(v))
        })
}

/// Whether a `compressed`-byte sibling of an `original`-byte file is worth keeping.
fn worth_keeping(original: u64, compressed: u64) -> bool {
    let (num, den) = KEEP_RATIO;
    u128::from(compressed) * u128::from(den) <= u128::from(original) * u128::from(num)
        && compressed.saturating_add(KEEP_MIN_SAVING) <= original
}

fn sibling_path(path: &Path, format: Format) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(format.extension());
    PathBuf::from(name)
}

/// `.a.css.br.tmp-<pid>` next to `a.css.br`: hidden, and on the same file
/// system so the rename that publishes it is atomic.
fn temp_path(sibling: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(sibling.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    sibling.with_file_name(name)
}

/// Counts for the summary; one per worker, added up at the end.
#[derive(Debug, Default)]
struct Tally {
    /// Files at or above `--min-size` with a compressible type.
    files: usize,
    /// Files left alone: type not compressible, too small, symlink leaving DIR.
    skipped: usize,
    written: usize,
    up_to_date: usize,
    /// Stale siblings deleted because no sibling is worth keeping now.
    removed: usize,
    failed: usize,
    /// Bytes of the `files`.
    before: u64,
    /// Per `--formats` entry, bytes a client accepting only that coding gets for
    /// the `files`: the sibling where one is kept, else the original.
    after: Vec<u64>,
}

impl Tally {
    fn add(mut self, o: Tally) -> Tally {
        self.files += o.files;
        self.skipped += o.skipped;
        self.written += o.written;
        self.up_to_date += o.up_to_date;
        self.removed += o.removed;
        self.failed += o.failed;
        self.before += o.before;
        self.after.resize(self.after.len().max(o.after.len()), 0);
        for (a, b) in self.after.iter_mut().zip(o.after) {
            *a += b;
        }
        self
    }
}

struct Run<'a> {
    root: &'a Path,
    formats: &'a [Format],
    min_size: u64,
    force: bool,
    show_hidden: bool,
    progress: bool,
    types: ferry::mime::MimeTable,
}

impl Run<'_> {
    fn warn(&self, path: &Path, e: &io::Error) {
        let clear = if self.progress { "\r\x1b[K" } else { "" };
        eprintln!("{clear}ferry: warning: {}: {e}", self.rel(path).display());
    }

    fn rel<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(self.root).unwrap_or(path)
    }

    /// Collects the compressible files under `dir`, sorted, into `files`.
    fn walk(&self, dir: &Path, files: &mut Vec<PathBuf>, t: &mut Tally) {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.warn(dir, &e);
                t.failed += 1;
                return;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let path = entry.path();
            // Like `ferry serve`: dot-names are hidden, except a top-level
            // `.well-known` (RFC 8615).
            let top = dir == self.root;
            if !self.show_hidden
                && name.as_encoded_bytes().starts_with(b".")
                && !(top && name == ".well-known")
            {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                self.walk(&path, files, t);
                continue;
            }
            if kind.is_symlink() {
                // Only links to regular files inside DIR. A linked directory is
                // not entered: its files are reached through their real path,
                // where `ferry serve` finds their siblings through the link too.
                match fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(self.root) && real.is_file() => {}
                    Ok(real) if real.starts_with(self.root) && real.is_dir() => continue,
                    _ => {
                        t.skipped += 1;
                        continue;
                    }
                }
            } else if !kind.is_file() {
                continue; // FIFOs, sockets, devices
            }
            if is_variant(&name) {
                continue;
            }
            let ty = self.types.for_path(&path);
            // The library's list, which on-the-fly compression uses too.
            if !ferry::mime::is_compressible(ty.as_bytes()) {
                t.skipped += 1;
                continue;
            }
            files.push(path);
        }
    }

    /// Brings every sibling of `path` up to date.
    fn file(&self, path: &Path, t: &mut Tally) -> io::Result<()> {
        let meta = fs::metadata(path)?;
        let mtime = meta.modified()?;
        let small = meta.len() < self.min_size;
        if small {
            t.skipped += 1;
        } else {
            t.files += 1;
            t.before += meta.len();
        }
        for (i, &format) in self.formats.iter().enumerate() {
            let sibling = sibling_path(path, format);
            let existing = match fs::symlink_metadata(&sibling) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let fresh = existing
                .as_ref()
                .is_some_and(|m| m.is_file() && m.modified().ok() == Some(mtime));
            if small {
                if existing.is_some() && !fresh {
                    fs::remove_file(&sibling)?;
                    t.removed += 1;
                }
                continue;
            }
            if let Some(m) = existing.as_ref().filter(|_| fresh && !self.force) {
                t.up_to_date += 1;
                t.after[i] += m.len();
                continue;
            }
            match write_sibling(path, &sibling, format, &meta)? {
                Some(len) => {
                    t.written += 1;
                    t.after[i] += len;
                }
                None => {
                    t.after[i] += meta.len();
                    if existing.is_some() {
                        fs::remove_file(&sibling)?;
                        t.removed += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn show_progress(&self, n: usize, total: usize, path: &Path) {
        let shown = self.rel(path).to_string_lossy();
        // Keep the line short enough not to wrap, or `\r` cannot redraw it.
        let max = 60;
        let shown = match shown.char_indices().rev().nth(max - 1) {
            Some((at, _)) if at > 0 => format!("…{}", &shown[at..]),
            _ => shown.into_owned(),
        };
        let _ = write!(io::stderr().lock(), "\r\x1b[K[{n}/{total}] {shown}");
    }
}

/// Compresses `src` into `dst` through a temp file; `None` (and no file) when
/// the result is not worth keeping.
fn write_sibling(
    src: &Path,
    dst: &Path,
    format: Format,
    meta: &Metadata,
) -> io::Result<Option<u64>> {
    let tmp = temp_path(dst);
    let result = compress_into(src, &tmp, format, meta).and_then(|kept| {
        if kept.is_some() {
            fs::rename(&tmp, dst)?;
        }
        Ok(kept)
    });
    if !matches!(result, Ok(Some(_))) {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn compress_into(
    src: &Path,
    tmp: &Path,
    format: Format,
    meta: &Metadata,
) -> io::Result<Option<u64>> {
    let mut input = BufReader::new(File::open(src)?);
    let mut output = BufWriter::new(File::create(tmp)?);
    format.compress(&mut input, &mut output, meta.len())?;
    let file = output
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    let len = file.metadata()?.len();
    if !worth_keeping(meta.len(), len) {
        return Ok(None);
    }
    // The original's mtime marks the sibling as up to date; its permissions keep
    // a private file's sibling private.
    file.set_modified(meta.modified()?)?;
    file.set_permissions(meta.permissions())?;
    Ok(Some(len))
}

/// Runs `ferry precompress`.
pub(crate) fn run(a: &PrecompressArgs) -> anyhow::Result<()> {
    if !a.dir.exists() {
        bail!("directory {} does not exist", a.dir.display());
    }
    if !a.dir.is_dir() {
        bail!("{} is not a directory", a.dir.display());
    }
    let root = fs::canonicalize(&a.dir)
        .with_context(|| format!("cannot precompress {}", a.dir.display()))?;
    let mut formats: Vec<Format> = Vec::new();
    for &f in &a.formats {
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    let run = Run {
        root: &root,
        formats: &formats,
        min_size: a.min_size,
        force: a.force,
        show_hidden: a.show_hidden,
        progress: !a.quiet && io::stderr().is_terminal(),
        types: ferry::mime::MimeTable::default(),
    };
    let new_tally = || Tally {
        after: vec![0; formats.len()],
        ..Tally::default()
    };

    let mut files = Vec::new();
    let mut walked = new_tally();
    run.walk(&root, &mut files, &mut walked);

    // A shared index into `files` is the whole work queue: compressing one file
    // takes far longer than one atomic add, so nothing more is needed.
    let next = AtomicUsize::new(0);
    let jobs = a
        .jobs
        .or_else(|| thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(files.len().max(1));
    let tally = thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut t = new_tally();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(n) else { break t };
                        if run.progress {
                            run.show_progress(n + 1, files.len(), path);
                        }
                        if let Err(e) = run.file(path, &mut t) {
                            run.warn(path, &e);
                            t.failed += 1;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .fold(walked, Tally::add)
    });
    if run.progress {
        eprint!("\r\x1b[K");
    }

    if !a.quiet {
        println!("{}", summary(&tally, &formats));
    }
    if tally.failed > 0 {
        bail!("{} path(s) could not be precompressed", tally.failed);
    }
    Ok(())
}

fn summary(t: &Tally, formats: &[Format]) -> String {
    let mut counts = format!(
        "{} variants written, {} up to date, {} skipped",
        t.written, t.up_to_date, t.skipped
    );
    if t.removed > 0 {
        counts += &format!(", {} stale removed", t.removed);
    }
    if t.failed > 0 {
        counts += &format!(", {} failed", t.failed);
    }
    let after: Vec<String> = formats
        .iter()
        .zip(&t.after)
        .map(|(f, n)| format!("{} {n}", f.name()))
        .collect();
    format!(
        "precompressed {} files ({counts}): {} bytes → {} bytes",
        t.files,
        t.before,
        after.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_never_inputs() {
        for (name, want) in [
            ("a.css.br", true),
            ("a.css.ZST", true),
            ("a.gz", true),
            ("a.css", false),
            ("br", false),
        ] {
            assert_eq!(is_variant(OsStr::new(name)), want, "{name}");
        }
    }

    #[test]
    fn kept_only_when_meaningfully_smaller() {
        for (original, compressed, want) in [
            (1000, 950, true),
            (1000, 951, false),
            (100, 68, true),
            (100, 69, false), // 5% smaller but under 32 bytes saved
            (0, 0, false),
            (u64::MAX, u64::MAX / 2, true),
        ] {
            assert_eq!(
                worth_keeping(original, compressed),
                want,
                "{original} {compressed}"
            );
        }
    }

    #[test]
    fn sibling_and_temp_names() {
        let s = sibling_path(Path::new("/d/a.css"), Format::Zstd);
        assert_eq!(s, Path::new("/d/a.css.zst"));
        let tmp = temp_path(&s);
        let want = format!("/d/.a.css.zst.tmp-{}", std::process::id());
        assert_eq!(tmp, Path::new(&want));
    }
}
