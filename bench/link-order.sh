#!/usr/bin/env bash
# Regenerates crates/ferry-cli/link-order.txt: the functions of the release
# binary that start `ferry serve` (first), accept and close a connection
# (next) and answer its requests (hottest first), which the linker then
# places side by side (build.rs passes the file to rust-lld as
# --symbol-ordering-file). Executable pages are mapped 64 KiB at
# a time around each one first touched (the kernel's fault-around), so code
# spread over the 9 MiB of .text made ~3.5 MiB of it resident at start; laid
# out together it is one run of pages, and the request path shares fewer
# cache lines and TLB entries with cold code.
#
#   bash bench/link-order.sh                        # builds the release binary
#   FERRY_BIN=target/release/ferry bash bench/link-order.sh
#
# Names are of this toolchain and these dependency versions: after an upgrade
# the file is stale (the linker ignores names it does not find, and the
# layout is merely as it would be without the file) until this runs again.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LOG_TAG=link-order
source "$HERE/lib.sh"
command -v valgrind >/dev/null || apt_install valgrind || die "cannot install valgrind"
command -v python3 >/dev/null || die "python3 is needed"
build_ferry
FERRY_BIN=$(realpath "$FERRY_BIN")
T=$(mktemp -d)
trap 'kill "${PID:-}" 2>/dev/null || true; rm -rf "$T"' EXIT
mkdir -p "$T/www/sub"
head -c 1024 /dev/urandom >"$T/www/1k.bin"
head -c $((4 << 20)) /dev/urandom >"$T/www/4m.bin"
printf '<h1>hi</h1>\n' >"$T/www/index.html"
seq 1 2000 >"$T/www/sub/a.txt"
PORT=18099
# record NAME [SERVE_FLAGS...]: one server's run under callgrind, dumped in
# parts: start-up; a connection opened and closed; requests; and, at exit,
# the shutdown. (The body is not indented: it holds heredocs.)
record() {
local name=$1
shift
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$T/cg.$name.out" \
    "$FERRY_BIN" serve "$T/www" --listen "127.0.0.1:$PORT" "$@" 2>"$T/vg.log" &
PID=$!
for _ in $(seq 200); do
    grep -q 'serving' "$T/vg.log" && break
    sleep 0.1
done
grep -q 'serving' "$T/vg.log" || die "ferry did not start under valgrind: $(tail -5 "$T/vg.log")"
# What ran to start the server, dumped apart from what answers requests:
# start-up code goes first, so that an idle server's pages are one run.
sleep 1
callgrind_control -d "$PID" >/dev/null 2>&1
# Then a connection opened and closed without a request (a readiness probe,
# a health check's connect): accepting and closing come next.
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "no connection to ferry"
sleep 1
callgrind_control -d "$PID" >/dev/null 2>&1
# What `ferry serve` answers most: GETs, 304s both ways, ranges, HEAD, 404,
# a directory, compressed text; on keep-alive connections and fresh ones.
python3 - "$PORT" <<'PY'
import http.client, sys
port = int(sys.argv[1])
def run(conn):
    def go(m, p, h={}):
        conn.request(m, p, headers=h)
        r = conn.getresponse()
        r.read()
        return r
    r = go('GET', '/1k.bin')
    et, lm = r.getheader('etag'), r.getheader('last-modified')
    go('GET', '/1k.bin', {'If-None-Match': et})
    go('GET', '/1k.bin', {'If-Modified-Since': lm})
    go('GET', '/4m.bin', {'Range': 'bytes=1000-1999'})
    go('GET', '/4m.bin', {'Range': 'bytes=0-9,100-109'})
    go('GET', '/4m.bin')
    go('HEAD', '/1k.bin')
    go('GET', '/nope')
    go('GET', '/sub')
    go('GET', '/')
    go('GET', '/sub/a.txt', {'Accept-Encoding': 'gzip, br'})
for i in range(30):
    c = http.client.HTTPConnection('127.0.0.1', port)
    for _ in range(5):
        run(c)
    c.close()
PY
kill -TERM "$PID"
wait "$PID" || true
PID=
}
# With the access log (the default) and without it (as the benchmarks run
# it): their connections are different instantiations of the same code.
record log
record nolog --no-access-log
python3 - "$FERRY_BIN" "$T"/cg.*.out* >"$ROOT/crates/ferry-cli/link-order.txt" <<'PY'
import re, sys
binary, outs = sys.argv[1], sys.argv[2:]


def functions(out):
    """This binary's functions that ran in one callgrind dump, by cost."""
    obs, names, obj, cost = {}, {}, {}, {}
    ob = cob = fn = None
    for line in open(out):
        line = line.rstrip('\n')
        m = re.match(r'^(c?ob)=\((\d+)\)(?: (.*))?$', line)
        if m:
            kind, i, name = m.groups()
            if name:
                obs[i] = name
            if kind == 'ob':
                ob = i
            else:
                cob = i
            continue
        m = re.match(r'^(c?fn)=\((\d+)\)(?: (.*))?$', line)
        if m:
            kind, i, name = m.groups()
            if name:
                names[i] = re.sub(r"'\d+$", '', name)
            if kind == 'fn':
                fn = i
                obj.setdefault(i, ob)
            else:
                obj.setdefault(i, cob or ob)
                cob = None
            continue
        m = re.match(r'^[+-]?\d+ (\d+)$', line)
        if m and fn is not None:
            cost[fn] = cost.get(fn, 0) + int(m.group(1))
    # Symbols only: not callgrind's `(below main)` nor unnamed addresses.
    ours = [i for i, o in obj.items()
            if obs.get(o) == binary and not names[i].startswith(('0x', '('))]
    ours = [i for i in ours if cost.get(i, 0) > 0]
    return [names[i] for i in sorted(ours, key=lambda i: -cost.get(i, 0))]


def part(out):
    for line in open(out):
        if line.startswith('part: '):
            return int(line.split()[1])
    return 1


seen = set()
for out in sorted(outs, key=part):
    for name in functions(out):
        if name not in seen:
            seen.add(name)
            print(name)
PY
log "$(wc -l <"$ROOT/crates/ferry-cli/link-order.txt") functions written to crates/ferry-cli/link-order.txt"
