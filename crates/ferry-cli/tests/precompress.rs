//! `ferry precompress` as a user runs it, on a temp tree.
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

const CODINGS: [&str; 3] = ["br", "zst", "gz"];

fn ferry(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `ferry precompress DIR EXTRA…`, asserts success and returns stdout.
fn precompress(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["precompress".as_ref(), dir.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = ferry(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(stderr.is_empty(), "no progress off a terminal: {stderr}");
    stdout
}

/// About 10 KiB of text that compresses well but not trivially.
fn text(seed: u32) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..300u32 {
        let color = i.wrapping_mul(7919).wrapping_add(seed) % 0xff_ffff;
        s += &format!(".c{i} {{ color: #{color:06x}; margin: {}px; }}\n", i % 17);
    }
    s.into_bytes()
}

/// Bytes no coding can shrink (xorshift64).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sibling(path: &Path, ext: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{ext}"));
    s.into()
}

fn decompress(path: &Path, ext: &str) -> Vec<u8> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    match ext {
        "br" => {
            brotli::Decompressor::new(&bytes[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zst" => out = zstd::stream::decode_all(&bytes[..]).unwrap(),
        "gz" => {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        _ => unreachable!(),
    }
    out
}

fn assert_siblings(path: &Path, want: &[&str]) {
    for ext in CODINGS {
        let s = sibling(path, ext);
        assert_eq!(s.exists(), want.contains(&ext), "{}", s.display());
    }
}

/// Checks every sibling decompresses to the original and carries its mtime.
fn assert_faithful(path: &Path) {
    let original = fs::read(path).unwrap();
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    for ext in CODINGS {
        let s = sibling(path, ext);
        assert_eq!(decompress(&s, ext), original, "{}", s.display());
        assert_eq!(fs::metadata(&s).unwrap().modified().unwrap(), mtime);
        assert!(fs::metadata(&s).unwrap().len() < original.len() as u64);
    }
}

fn count(summary: &str, what: &str) -> usize {
    let at = summary
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} in {summary}"));
    summary[..at]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn compressible_files_get_siblings_that_decompress_to_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("sub")).unwrap();
    for (name, seed) in [("a.css", 1), ("sub/app.js", 2), ("index.html", 3)] {
        fs::write(d.join(name), text(seed)).unwrap();
    }
    let out = precompress(d, &[]);
    let mut total = 0;
    for name in ["a.css", "sub/app.js", "index.html"] {
        assert_faithful(&d.join(name));
        total += fs::metadata(d.join(name)).unwrap().len();
    }
    assert_eq!(count(&out, "files"), 3, "{out}");
    assert_eq!(count(&out, "variants written"), 9, "{out}");
    assert!(out.contains(&format!(": {total} bytes → br ")), "{out}");
    // No temp files are left behind.
    let names: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().contains(".tmp-")),
        "{names:?}"
    );
}

#[test]
fn incompressible_small_and_variant_files_get_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("random.js"), noise(10_000)).unwrap();
    // Compressible bytes, but PNG is compressed already as a type.
    fs::write(d.join("logo.png"), text(4)).unwrap();
    fs::write(d.join("tiny.css"), &text(5)[..200]).unwrap();
    fs::write(d.join("data.bin"), text(6)).unwrap();
    fs::write(d.join("old.css.gz"), text(7)).unwrap();
    let out = precompress(d, &[]);
    for name in [
        "random.js",
        "logo.png",
        "tiny.css",
        "data.bin",
        "old.css.gz",
    ] {
        assert_siblings(&d.join(name), &[]);
    }
    assert_eq!(
        count(&out, "files"),
        1,
        "only random.js is considered: {out}"
    );
    assert_eq!(count(&out, "variants written"), 0, "{out}");
    assert_eq!(count(&out, "skipped"), 3, "{out}");
    assert_eq!(fs::read_dir(d).unwrap().count(), 5);

    // --min-size lowers the bar for the small file.
    precompress(d, &["--min-size", "100"]);
    assert_siblings(&d.join("tiny.css"), &CODINGS);
    assert_faithful(&d.join("tiny.css"));
}

#[test]
fn second_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("a.css"), text(1)).unwrap();
    fs::write(d.join("b.json"), text(2)).unwrap();
    precompress(d, &[]);
    let before: Vec<_> = ["a.css", "b.json"]
        .iter()
        .flat_map(|n| CODINGS.map(|e| fs::metadata(sibling(&d.join(n), e)).unwrap()))
        .map(|m| {
            (
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
        })
        .collect();
    let out = precompress(d, &[]);
    assert_eq!(count(&out, "variants written"), 0, "{out}");
    assert_eq!(count(&out, "up to date"), 6, "{out}");
    let after: Vec<_> = ["a.css", "b.json"]
        .iter()
        .flat_map(|n| CODINGS.map(|e| fs::metadata(sibling(&d.join(n), e)).unwrap()))
        .map(|m| {
            (
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
        })
        .collect();
    assert_eq!(before, after);

    // --force rewrites them anyway.
    let out = precompress(d, &["--force"]);
    assert_eq!(count(&out, "variants written"), 6, "{out}");
}

#[test]
fn changed_original_is_recompressed_or_its_stale_siblings_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.css");
    fs::write(&a, text(1)).unwrap();
    precompress(d, &[]);

    // New content, and an mtime surely different from the first one.
    fs::write(&a, text(99)).unwrap();
    let later = SystemTime::now() + Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let out = precompress(d, &[]);
    assert_eq!(count(&out, "variants written"), 3, "{out}");
    assert_faithful(&a);

    // Now incompressible: the old siblings would serve stale bytes, so they go.
    fs::write(&a, noise(10_000)).unwrap();
    let out = precompress(d, &[]);
    assert_siblings(&a, &[]);
    assert_eq!(count(&out, "stale removed"), 3, "{out}");
}

#[test]
fn hidden_names_are_skipped_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in [".git", ".well-known", "x"] {
        fs::create_dir(d.join(sub)).unwrap();
    }
    for name in [".env.json", ".git/a.js", ".well-known/b.json", "x/c.css"] {
        fs::write(d.join(name), text(1)).unwrap();
    }
    precompress(d, &[]);
    assert_siblings(&d.join(".env.json"), &[]);
    assert_siblings(&d.join(".git/a.js"), &[]);
    assert_siblings(&d.join(".well-known/b.json"), &CODINGS);
    assert_siblings(&d.join("x/c.css"), &CODINGS);

    precompress(d, &["--show-hidden", "--quiet"]);
    assert_siblings(&d.join(".env.json"), &CODINGS);
    assert_siblings(&d.join(".git/a.js"), &CODINGS);
}

#[test]
fn formats_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("a.css"), text(1)).unwrap();
    fs::write(outside.path().join("secret.css"), text(2)).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.css"), d.join("leak.css")).unwrap();
    let out = precompress(d, &["--formats", "br,gz", "--jobs", "1"]);
    assert_siblings(&d.join("a.css"), &["br", "gz"]);
    assert_siblings(&d.join("leak.css"), &[]);
    assert_siblings(&outside.path().join("secret.css"), &[]);
    assert!(
        out.contains("br ") && out.contains("gzip ") && !out.contains("zstd"),
        "{out}"
    );
}

#[test]
fn missing_or_non_directory_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = ferry(&["precompress".as_ref(), missing.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not exist") && stderr.contains("nope"),
        "{stderr}"
    );

    let file = dir.path().join("f.css");
    fs::write(&file, "x").unwrap();
    let out = ferry(&["precompress".as_ref(), file.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}
