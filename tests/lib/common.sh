# Shared helpers for the scripts under tests/scripts. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
check() { # check "name" cmd...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# need CMD [apt-package]: installs with apt-get when missing; a missing program fails in CI.
APT_UPDATED=
need() {
  local cmd=$1 pkg=${2:-$1}
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1; then
    [ -n "$APT_UPDATED" ] || { apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 || true
  fi
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "missing program: $cmd (package $pkg)" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "skipping: $cmd not available outside CI" >&2
  exit 0
}

# need_chromium: Debian's headless Chromium and its driver, and selenium in a
# venv ($VENV/bin/python); tests/lib/chromium.py (`from chromium import
# driver`) starts the browser the same way for every script.
need_chromium() {
  need chromium chromium
  need chromedriver chromium-driver
  need python3 python3
  VENV="${FERRY_TEST_VENV:-$CARGO_TARGET_DIR/test-venv}"
  if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'selenium>=4.10,<5'
  fi
  export PYTHONPATH="$ROOT/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
}

# ferry_bin: FERRY_BIN when set (e.g. a release build), else a fresh debug build.
ferry_bin() {
  if [ -n "${FERRY_BIN:-}" ]; then echo "$FERRY_BIN"; return 0; fi
  cargo build -q -p ferry-cli >&2
  echo "$CARGO_TARGET_DIR/debug/ferry"
}

# start_ferry LOGFILE ARGS...: starts ferry on a free port, sets FERRY_URL and FERRY_PID.
start_ferry() {
  local log=$1; shift
  "$FERRY" "$@" --listen 127.0.0.1:0 2>"$log" &
  FERRY_PID=$!
  PIDS+=("$FERRY_PID")
  for _ in $(seq 100); do
    FERRY_URL=$(grep -o ' on https\?://[0-9.:]*' "$log" | head -1 | sed 's/^ on //' || true)
    [ -n "$FERRY_URL" ] && return 0
    sleep 0.05
  done
  echo "ferry did not start:" >&2; cat "$log" >&2; return 1
}

# free_port: a port on 127.0.0.1 that nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# sha FILE: the SHA-256 of FILE, hex.
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# below A B: A is a number less than B (an empty A is not).
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'; }
# kv KEY LINE: the value of KEY in a `key=value …` line (tests/attack's output).
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
# changed_as_promised LINE ACTION SHA: tests/attack/faults.py's answer for a
# file ACTION'd mid-send, as README's Reliability section promises: truncated,
# an aborted 200; replaced (renamed over) or deleted, the whole file as it was
# when opened (SHA), from the descriptor already open.
changed_as_promised() {
  [ "$(kv status "$1")" = 200 ] || return 1
  case $2 in
  truncate) [ "$(kv complete "$1")" = 0 ] ;;
  *) [ "$(kv complete "$1")" = 1 ] && [ "$(kv sha "$1")" = "$3" ] ;;
  esac
}
