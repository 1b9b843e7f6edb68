#!/usr/bin/env bash
# A soak: DURATION seconds (default 1800) of mixed traffic against `ferry serve`
# and `ferry proxy` in front of gunicorn (tests/gunicorn_app), with a row every
# INTERVAL seconds (default 60): each ferry's RSS and open descriptors, requests,
# p99 latency, errors, bad requests sent and answered 400 or 501, slow reads finished.
# Both ferrys get a SIGHUP (a reload) after every row. Not run in CI.
#
#   bash bench/soak.sh                                  # 30 minutes, release build
#   DURATION=120 INTERVAL=10 bash bench/soak.sh         # a quick look
#   FERRY_BIN=/path/to/ferry bash bench/soak.sh | tee soak.txt
#
# Traffic (bench/soak.py, standard-library Python): WORKERS (6) keep-alive
# clients mixing GET 1 KiB, 304 by If-None-Match, a 1000-byte range, HEAD, 404
# on serve and GET/POST through the proxy; SLOW (4) clients reading 1 MiB at
# about 64 KiB/s; one client sending malformed heads (duplicate Content-Length,
# NUL in the target, `chunked, identity`, garbage, obs-fold) five times a second.
# The table goes to stdout; the script fails when any error was counted.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=${DURATION:-1800}
INTERVAL=${INTERVAL:-60}
LOG_TAG=soak
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
command -v python3 >/dev/null || apt_install python3 python3-venv
build_ferry
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${FERRY_GUNICORN_VENV:-$TARGET/gunicorn-venv}
if ! "$VENV/bin/gunicorn" --version >/dev/null 2>&1; then
    log "installing gunicorn into $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (apt-get install python3-venv?)"
    "$VENV/bin/pip" install -q 'gunicorn>=21' >&2 || die "pip install gunicorn failed"
fi

T=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/site"
head -c 1024 /dev/urandom >"$T/site/1k.bin"
head -c $((1 << 20)) /dev/urandom >"$T/site/1m.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

GPORT=$(free_port)
PRIVATE_ROOT="$T/site" "$VENV/bin/gunicorn" --workers 2 --worker-class sync --timeout 30 \
    --graceful-timeout 2 --bind "127.0.0.1:$GPORT" --chdir "$ROOT/tests/gunicorn_app" app:app \
    </dev/null >"$T/gunicorn.log" 2>&1 &
PIDS+=($!)

# A config file for serve, so that SIGHUP really rebuilds the site.
cat >"$T/serve.toml" <<TOML
root = "$T/site"
listen = "127.0.0.1:0"
TOML
# start NAME ARGS...: starts ferry, sets URL and PID.
start() {
    local name=$1; shift
    "$FERRY_BIN" "$@" --no-access-log 2>"$T/$name.log" &
    PID=$!
    PIDS+=("$PID")
    URL=
    for _ in $(seq 100); do
        URL=$(grep -o ' on http://[0-9.:]*' "$T/$name.log" | head -1 | sed 's/^ on //' || true)
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    cat "$T/$name.log" >&2
    die "ferry $name did not start"
}
start serve serve --config "$T/serve.toml"
SURL=$URL SPID=$PID
start proxy proxy --upstream "http://127.0.0.1:$GPORT" --listen 127.0.0.1:0
PURL=$URL PPID_=$PID
for _ in $(seq 100); do curl -s -o /dev/null "$PURL/" && break; sleep 0.1; done

log "ferry $("$FERRY_BIN" --version), serve $SURL (pid $SPID), proxy $PURL (pid $PPID_) -> gunicorn :$GPORT; ${DURATION}s, a row every ${INTERVAL}s"
echo "soak $(date -u '+%Y-%m-%d %H:%M UTC'): $("$FERRY_BIN" --version), $("$VENV/bin/gunicorn" --version 2>&1 | head -1), kernel $(uname -r), $(nproc) cores, DURATION=$DURATION INTERVAL=$INTERVAL"
echo
status=0
python3 "$ROOT/bench/soak.py" "$SURL" "$SPID" "$PURL" "$PPID_" "$DURATION" "$INTERVAL" || status=$?
for name in serve proxy; do
    if grep -qiE 'panick|error' "$T/$name.log"; then
        log "ferry $name logged:"; grep -iE 'panick|error' "$T/$name.log" | head -5 >&2
    fi
done
kill -0 "$SPID" && kill -0 "$PPID_" || die "a ferry exited during the soak"
exit "$status"
