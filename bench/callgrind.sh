#!/usr/bin/env bash
# Instructions per request (callgrind Ir) for ferry, nginx and lighttpd serving
# the same 1 KiB file: N keep-alive GETs on one connection from python3's
# http.client. Instruction counts barely move between runs, so they compare
# builds on a noisy machine where req/s does not.
#
#   bash bench/callgrind.sh                  # N=2000 WARMUP=200
#   N=5000 bash bench/callgrind.sh
#   FERRY_BIN=/path/to/ferry bash bench/callgrind.sh
#   SERVERS="ferry" bash bench/callgrind.sh  # ferry only
#   FERRY_ARGS="--no-compress" SERVERS=ferry bash bench/callgrind.sh  # extra serve flags
#   KEEP_TMP=1 bash bench/callgrind.sh       # keep callgrind.out.* for callgrind_annotate
#   REQUEST=ims bash bench/callgrind.sh      # get (default), inm, ims or range:
#                                            # the requests of bench/run.sh's rows 1, 2, 3, 6
#
# The counters are zeroed (callgrind_control -z) after WARMUP requests and
# dumped (callgrind_control -d) after N more, so start-up and first-request
# costs are left out. Ir counts user-space instructions only: time in the
# kernel (syscalls, TCP, sendfile) is not in it; bench/run.sh's CPU columns are.
set -euo pipefail

N=${N:-2000}
REQUEST=${REQUEST:-get}
case $REQUEST in get | inm | ims | range) ;; *) die "REQUEST must be get, inm, ims or range, got '$REQUEST'" ;; esac
WARMUP=${WARMUP:-200}
read -r -a SERVERS <<<"${SERVERS:-ferry nginx lighttpd}"
PORT_ferry=18084
PORT_nginx=18085
PORT_lighttpd=18086

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

LOG_TAG=callgrind
source "$HERE/lib.sh"

positive N
case $WARMUP in '' | *[!0-9]*) die "WARMUP must be a non-negative integer, got '$WARMUP'" ;; esac

command -v valgrind >/dev/null || apt_install valgrind || die "cannot install valgrind"
command -v python3 >/dev/null || apt_install python3 || die "cannot install python3"
for s in "${SERVERS[@]}"; do
    case $s in
    ferry) ;;
    nginx) command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx || die "cannot install nginx" ;;
    lighttpd) command -v lighttpd >/dev/null || apt_install lighttpd || die "cannot install lighttpd" ;;
    *) die "unknown server '$s' (ferry, nginx, lighttpd)" ;;
    esac
done

if [[ " ${SERVERS[*]} " == *" ferry "* ]]; then build_ferry; fi

T=$(mktemp -d "${TMPDIR:-/tmp}/ferry-callgrind.XXXXXX")
VPID=
cleanup() {
    if [ -n "$VPID" ]; then
        kill -TERM "$VPID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VPID" 2>/dev/null || true
    fi
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

W=$T/www
mkdir -p "$W" "$T/nginx/tmp" "$T/lighttpd"
head -c 1024 /dev/urandom >"$W/1k.bin"
touch -d '2024-01-01 00:00:00 UTC' "$W/1k.bin"
if [ "$REQUEST" = range ]; then
    head -c $((100 * 1024 * 1024)) /dev/zero >"$W/100m.bin"
    touch -d '2024-01-01 00:00:00 UTC' "$W/100m.bin"
fi

write_configs "$T" "$W"

cat >"$T/client.py" <<'EOF'
import http.client, sys
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
# The validators come from a first GET, as a browser's revalidation would.
conn.request("GET", "/1k.bin")
first = conn.getresponse()
first.read()
path, headers, want, size = {
    "get": ("/1k.bin", {}, 200, 1024),
    "inm": ("/1k.bin", {"If-None-Match": first.getheader("etag")}, 304, 0),
    "ims": ("/1k.bin", {"If-Modified-Since": first.getheader("last-modified")}, 304, 0),
    "range": ("/100m.bin", {"Range": "bytes=1000000-1000999"}, 206, 1000),
}[mode]
for i in range(n):
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != want or len(body) != size or resp.will_close:
        sys.exit(f"request {i}: status {resp.status}, {len(body)} bytes, will_close={resp.will_close}")
conn.close()
EOF


# one NAME: sets IR[NAME] (Ir per request) and TOT[NAME]
one() {
    local name=$1 port out=$T/callgrind.out.$1 cmd=()
    port=$(port_of "$name")
    case $name in
    # One core, as in bench/run.sh: one tokio worker.
    ferry) cmd=(taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out"
        "$FERRY_BIN" serve "$W" --listen "127.0.0.1:$port" --no-access-log ${FERRY_ARGS:-}) ;;
    nginx) cmd=(valgrind --tool=callgrind --callgrind-out-file="$out"
        "$(command -v nginx)" -p "$T/nginx/" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf"
        -g 'daemon off; master_process off;') ;;
    lighttpd) cmd=(valgrind --tool=callgrind --callgrind-out-file="$out"
        "$(command -v lighttpd)" -D -f "$T/lighttpd/lighttpd.conf") ;;
    esac
    "${cmd[@]}" </dev/null >"$T/$name.log" 2>&1 &
    VPID=$!
    local ok=
    for _ in $(seq 600); do
        kill -0 "$VPID" 2>/dev/null || break
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { tail -20 "$T/$name.log" >&2; die "$name did not start under valgrind"; }
    # taskset execs valgrind, and valgrind runs the program in its own process.
    python3 "$T/client.py" "$port" "$WARMUP" "$REQUEST" || die "$name: warm-up requests failed"
    callgrind_control -z "$VPID" >/dev/null 2>&1 || die "callgrind_control -z failed (vgdb)"
    python3 "$T/client.py" "$port" "$N" "$REQUEST" || die "$name: requests failed"
    callgrind_control -d "$VPID" >/dev/null 2>&1 || die "callgrind_control -d failed (vgdb)"
    local dump
    dump=$(ls -t "$out".* 2>/dev/null | head -1)
    [ -n "$dump" ] || die "$name: no callgrind dump"
    kill -TERM "$VPID" 2>/dev/null || true
    wait "$VPID" 2>/dev/null || true
    VPID=
    local ir
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
    [ -n "$ir" ] || die "$name: no totals in $dump"
    TOT[$name]=$ir
    IR[$name]=$(awk -v ir="$ir" -v n="$N" 'BEGIN { printf "%.0f", ir / n }')
}

declare -A IR=() TOT=()
for s in "${SERVERS[@]}"; do
    log "$s: $WARMUP warm-up + $N measured requests under callgrind"
    one "$s"
done

echo "callgrind, REQUEST=$REQUEST (get: GET 1 KiB; inm/ims: 304; range: 1000 bytes of 100 MiB) keep-alive on one connection, N=$N after $WARMUP warm-up (user-space instructions only)"
printf '%-9s %14s %16s %10s\n' server 'Ir/request' 'Ir total' 'vs ferry'
for s in "${SERVERS[@]}"; do
    rel=-
    [ -n "${IR[ferry]:-}" ] && rel=$(awk -v a="${IR[$s]}" -v b="${IR[ferry]}" 'BEGIN { printf "%.2f", a / b }')
    printf '%-9s %14s %16s %10s\n' "$s" "${IR[$s]}" "${TOT[$s]}" "$rel"
done
