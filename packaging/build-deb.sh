#!/usr/bin/env bash
# Builds the Debian package of ferry: target/debian/ferry_VERSION-1_ARCH.deb.
#
#   bash packaging/build-deb.sh            # release build (if not fresh) + package
#
# Steps: `cargo build --release -p ferry-cli` (a no-op when the binary is
# fresh); copies the man pages and completions build.rs wrote into OUT_DIR to
# $CARGO_TARGET_DIR/release/ferry-pkg/; writes the copyright file with every
# linked crate's license (packaging/licenses.py, from `cargo metadata`: a
# script, as cargo-about would add minutes of install to CI); then
# `cargo deb --no-build` (install it once: `cargo install cargo-deb`), which
# reads [package.metadata.deb] in crates/ferry-cli/Cargo.toml.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
command -v cargo-deb >/dev/null || {
  echo "build-deb.sh: cargo-deb is missing: cargo install cargo-deb" >&2
  exit 1
}

# The OUT_DIR of the build script that produced the binary, from cargo's own
# messages (replayed when nothing is rebuilt), not by guessing among stale ones.
out_dir=$(cargo build --release -p ferry-cli --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
out = None
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "build-script-executed" and "/crates/ferry-cli#" in m["package_id"]:
        out = m["out_dir"]
print(out or "")')
[ -n "$out_dir" ] && [ -f "$out_dir/man/ferry.1" ] || {
  echo "build-deb.sh: no man page from ferry-cli's build script (out_dir: ${out_dir:-none})" >&2
  exit 1
}

pkg="$CARGO_TARGET_DIR/release/ferry-pkg"
rm -rf "$pkg"
mkdir -p "$pkg"
cp -r "$out_dir/man" "$out_dir/completions" "$pkg/"
gzip -9n "$pkg"/man/*.1 # cargo-deb compresses only man pages it did not build
python3 packaging/licenses.py >"$pkg/copyright"

# Stripped by cargo-deb (52 MB with the release profile's line tables, ~9 MB without).
cargo deb -p ferry-cli --no-build "$@"
