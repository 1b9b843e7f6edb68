#!/usr/bin/env bash
# `ferry serve s3://…` with a warm disk cache (--cache-dir) vs `ferry serve DIR`
# on the same files, side by side in one run; object storage is moto's S3
# server (pip, in a virtualenv) on loopback. Also: what a cold miss costs the
# store (requests counted in moto's log), and the bucket without a cache.
#
#   bash bench/store.sh                       # REPEAT=3 DURATION=5
#   FERRY_BIN=/path/to/ferry bash bench/store.sh
#   KEEP_TMP=1 bash bench/store.sh            # keep the temp dir (logs, cache)
#
# Both ferry servers run on core 0 (taskset -c 0); wrk -t1 and moto on core 1.
# Progress goes to stderr; the result table alone goes to stdout.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
PORT_dir=18281
PORT_s3=18282
PORT_nocache=18283
PORT_moto=18284
SERVERS=(dir s3 nocache)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
source "$HERE/lib.sh"
positive REPEAT
positive DURATION seconds

command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
command -v python3 >/dev/null || apt_install python3 python3-venv || die "cannot install python3"
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (ferry on core 0, wrk and moto on core 1)"
CLK_TCK=$(getconf CLK_TCK)
build_ferry

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
VENV=${FERRY_TEST_VENV:-$TARGET/test-venv}
if ! "$VENV/bin/python" -c 'import moto.server, boto3' 2>/dev/null; then
    log "installing moto into $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed"
    "$VENV/bin/pip" install -q 'moto[server]>=5,<6' >&2 || die "pip install moto failed"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

T=$(mktemp -d)
PIDS=()
declare -A PID
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

mkdir -p "$T/www" "$T/res"
head -c 1024 /dev/urandom >"$T/www/1k.bin"
head -c 65536 /dev/urandom >"$T/www/64k.bin"
touch -d '2024-01-01 00:00:00 UTC' "$T/www"/*.bin

wait_port() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; die "nothing on port $1"; }

log "starting moto on 127.0.0.1:$PORT_moto (core 1)"
taskset -c 1 "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$PORT_moto" >"$T/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT_moto"
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT_moto" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
"$VENV/bin/python" - "$T/www" <<'PY'
import boto3, os, sys
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench")
for name in ("1k.bin", "64k.bin"):
    with open(os.path.join(sys.argv[1], name), "rb") as f:
        s3.put_object(Bucket="bench", Key="files/" + name, Body=f.read())
PY

start() { # NAME PORT ARGS...
    local name=$1 port=$2; shift 2
    taskset -c 0 "$FERRY_BIN" serve "$@" --listen "127.0.0.1:$port" --no-access-log 2>"$T/$name.log" &
    PID[$name]=$!
    PIDS+=($!)
    wait_port "$port"
}
start dir "$PORT_dir" "$T/www"
start s3 "$PORT_s3" s3://bench/files --cache-dir "$T/cache" --metadata-ttl 3600
start nocache "$PORT_nocache" s3://bench/files --metadata-ttl 3600

# What a cold miss costs the store: moto's log lines (colours stripped).
store_count() { sed 's/\x1b\[[0-9;]*m//g' "$T/moto.log" | grep -c "\"$1 /bench/files/$2 " || true; }
COLD=""
for f in 1k.bin 64k.bin; do
    g0=$(store_count GET "$f") h0=$(store_count HEAD "$f")
    curl -sf -o "$T/got" "http://127.0.0.1:$PORT_s3/$f" || die "cold GET $f failed"
    cmp -s "$T/got" "$T/www/$f" || die "cold GET $f: wrong bytes"
    g1=$(store_count GET "$f") h1=$(store_count HEAD "$f")
    COLD+="$f: $((g1 - g0)) GET, $((h1 - h0)) HEAD; "
    for s in "${SERVERS[@]}"; do
        port_var=PORT_$s
        curl -sf -o "$T/got" "http://127.0.0.1:${!port_var}/$f" || die "$s: GET $f failed"
        cmp -s "$T/got" "$T/www/$f" || die "$s: GET $f: wrong bytes"
    done
done
log "cold miss: $COLD"
g_warm0=$(store_count GET 1k.bin)

cpu_ticks() { # PID -> utime+stime in clock ticks
    local f
    read -ra f <"/proc/$1/stat"
    echo $((f[13] + f[14]))
}

measure() { # NAME FILE
    local name=$1 file=$2 port_var=PORT_$1 c0 c1 out rps reqs
    c0=$(cpu_ticks "${PID[$name]}")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:${!port_var}/$file")
    c1=$(cpu_ticks "${PID[$name]}")
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    grep -q 'Non-2xx' <<<"$out" && die "$name $file: non-2xx answers: $out"
    echo "$rps" >>"$T/res/$file.rps.$name"
    awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f\n", t / hz * 1e6 / n }' >>"$T/res/$file.cpu.$name"
    log "  $(printf '%-8s' "$name") $file: $rps req/s"
}

for r in $(seq "$REPEAT"); do
    log "repeat $r/$REPEAT"
    for f in 1k.bin 64k.bin; do
        for s in dir s3; do measure "$s" "$f"; done
    done
done
g_warm1=$(store_count GET 1k.bin)
# The bucket without a cache, once: it is store-bound, not ferry-bound.
for f in 1k.bin 64k.bin; do measure nocache "$f"; done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "kernel $(uname -r), ${cpu_model:-unknown CPU}, $(nproc --all) cores; ferry on core 0, wrk -t1 -c$CONNS and moto on core 1"
echo "median of REPEAT=$REPEAT runs of DURATION=${DURATION}s (no cache: one run); cpu = ferry's CPU time per request"
echo "cold miss (counted at moto): $COLD"
echo "store GETs for 1k.bin during the warm-cache runs: $((g_warm1 - g_warm0))"
ROWFMT='| %-12s | %10s | %12s | %7s | %9s | %12s | %12s |\n'
printf "$ROWFMT" file 'DIR req/s' 's3 warm req/s' 's3/DIR' 'cpu DIR' 'cpu s3 warm' 's3 no cache'
printf "$ROWFMT" --- --- --- --- --- --- ---
for f in 1k.bin 64k.bin; do
    d=$(median "$T/res/$f.rps.dir") s=$(median "$T/res/$f.rps.s3") n=$(median "$T/res/$f.rps.nocache")
    cd_=$(median "$T/res/$f.cpu.dir") cs=$(median "$T/res/$f.cpu.s3")
    printf "$ROWFMT" "GET $f" "$(printf '%.0f' "$d")" "$(printf '%.0f' "$s")" \
        "$(awk -v a="$s" -v b="$d" 'BEGIN { printf "%.2f", a / b }')" "${cd_} us" "${cs} us" \
        "$(printf '%.0f' "$n")"
done
