//! The site the behaviour table serves: small and large files, a
//! precompressed sibling, an index, an empty file, a dotfile and a secret
//! outside the root.
use std::path::Path;

/// 100 bytes, none repeated within any 36: a range off by one shows.
pub(crate) fn a_txt() -> Vec<u8> {
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..100).map(|i| alphabet[i % alphabet.len()]).collect()
}
/// 200 KiB: above the fast path's inline limit (32 KiB), so it goes out with
/// sendfile(2) over TCP, in file chunks over TLS, and through the body
/// stream on HTTP/2 and HTTP/3.
pub(crate) fn big_bin() -> Vec<u8> {
    (0..200 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}
pub(crate) const CSS: &str = "body { color: red }\n";
/// Not real brotli: ferry serves the sibling's bytes as they are.
pub(crate) const CSS_BR: &[u8] = b"\x8b\x09\x80precompressed-br\x03";
pub(crate) const SECRET: &str = "TOP SECRET, outside the root\n";

pub(crate) fn fixture(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("a.txt"), a_txt()).unwrap();
    std::fs::write(site.join("x.css"), CSS).unwrap();
    std::fs::write(site.join("x.css.br"), CSS_BR).unwrap();
    std::fs::write(site.join("sub/index.html"), "<p>sub</p>\n").unwrap();
    std::fs::write(site.join("big.bin"), big_bin()).unwrap();
    std::fs::write(site.join("empty.txt"), "").unwrap();
    std::fs::write(site.join(".env"), SECRET).unwrap();
    site
}
