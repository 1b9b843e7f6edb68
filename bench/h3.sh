#!/usr/bin/env bash
# HTTP/3: ferry vs Caddy on loopback, GET 1 KiB and GET 100 MiB over QUIC.
#
#   bash bench/h3.sh                       # REPEAT=3 DURATION=5
#   FERRY_BIN=/path/to/ferry bash bench/h3.sh
#   KEEP_TMP=1 bash bench/h3.sh
#
# Servers run on core 0 (taskset -c 0), the load client on core 1: bench/h3client
# (quinn + h3, release build, its own target dir $CARGO_TARGET_DIR/h3client), many
# streams over few connections (1 KiB: CONNS_SMALL x STREAMS_SMALL; 100 MiB:
# CONNS_BIG x STREAMS_BIG). Both servers use the same certificate (ECDSA P-256,
# signed by a CA made here) and the same files; neither logs requests.
# Server CPU = utime + stime from /proc/PID/stat over the run.
# Progress goes to stderr; the table alone to stdout.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
CONNS_SMALL=${CONNS_SMALL:-4}
STREAMS_SMALL=${STREAMS_SMALL:-32}
CONNS_BIG=${CONNS_BIG:-1}
STREAMS_BIG=${STREAMS_BIG:-2}
PORT_ferry=18441
PORT_caddy=18442

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
source "$HERE/lib.sh"
positive REPEAT
positive DURATION

command -v caddy >/dev/null || apt_install caddy || die "cannot install caddy"
command -v openssl >/dev/null || apt_install openssl || die "cannot install openssl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
CLK_TCK=$(getconf CLK_TCK)

build_ferry
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
if [ -z "${H3CLIENT:-}" ]; then
    log "building bench/h3client (release, target dir $TARGET/h3client)"
    (cd "$HERE/h3client" && cargo build --release --target-dir "$TARGET/h3client" >&2) ||
        die "cannot build bench/h3client"
    H3CLIENT=$TARGET/h3client/release/h3client
fi

T=$(mktemp -d)
declare -A PID
cleanup() {
    for p in "${PID[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PID[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_TMP:-}" ] && log "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/site"
head -c 1024 /dev/urandom >"$T/site/1k.bin"
head -c $((100 << 20)) /dev/urandom >"$T/site/100m.bin"
touch -d '2024-01-01 00:00:00 UTC' "$T/site/"*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench-ca -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' >"$T/leaf.ext"
openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 2 -extfile "$T/leaf.ext" -out "$T/cert.pem" 2>/dev/null

cat >"$T/Caddyfile" <<EOF
{
	admin off
	auto_https off
	http_port 18449
}
https://localhost:$PORT_caddy {
	tls $T/cert.pem $T/key.pem
	root * $T/site
	file_server
}
EOF

start() { # NAME
    case $1 in
    ferry)
        taskset -c 0 "$FERRY_BIN" serve "$T/site" --listen "127.0.0.1:$PORT_ferry" \
            --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --no-access-log 2>"$T/ferry.log" &
        ;;
    caddy)
        HOME=$T XDG_DATA_HOME=$T/caddy-data XDG_CONFIG_HOME=$T/caddy-config \
            taskset -c 0 caddy run --config "$T/Caddyfile" --adapter caddyfile >"$T/caddy.log" 2>&1 &
        ;;
    esac
    PID[$1]=$!
    local port=PORT_$1
    for _ in $(seq 100); do
        "$H3CLIENT" get "https://localhost:${!port}/1k.bin" --ca "$T/ca.pem" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$1 does not answer over HTTP/3 (see $T/$1.log)"
}
cpu_ticks() { # NAME
    local line f
    line=$(cat "/proc/${PID[$1]}/stat")
    read -r -a f <<<"${line##*) }"
    echo $((f[11] + f[12]))
}
# run NAME PATH CONNS STREAMS -> "requests bytes secs cpu_secs"
run() {
    local name=$1 path=$2 port=PORT_$1 c0 c1 out
    c0=$(cpu_ticks "$1")
    out=$(taskset -c 1 "$H3CLIENT" load "https://localhost:${!port}$2" --ca "$T/ca.pem" \
        --conns "$3" --streams "$4" --secs "$DURATION")
    c1=$(cpu_ticks "$1")
    log "$1 $2: $out; cpu $(((c1 - c0)))/$CLK_TCK s"
    # requests R bytes B secs S errors E
    set -- $out
    [ "$8" = 0 ] || die "$name $path: $8 errors"
    [ "$2" != 0 ] || die "$name $path: no response"
    echo "$2 $4 $6 $(awk -v t=$((c1 - c0)) -v h="$CLK_TCK" 'BEGIN { printf "%.3f", t / h }')"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for s in ferry caddy; do start "$s"; done
# Both give the same bytes.
for s in ferry caddy; do
    port=PORT_$s
    "$H3CLIENT" get "https://localhost:${!port}/1k.bin" --ca "$T/ca.pem" --out "$T/check.$s" >/dev/null
    cmp -s "$T/check.$s" "$T/site/1k.bin" || die "$s served other bytes"
done
# Warm-up: connections, caches, the page cache of 100m.bin.
for s in ferry caddy; do
    port=PORT_$s
    taskset -c 1 "$H3CLIENT" load "https://localhost:${!port}/1k.bin" --ca "$T/ca.pem" --secs 1 >/dev/null
    taskset -c 1 "$H3CLIENT" load "https://localhost:${!port}/100m.bin" --ca "$T/ca.pem" --conns 1 --streams 1 --secs 1 >/dev/null
done

declare -A REQS MIBS CPUR CPUG
for what in small big; do
    for s in ferry caddy; do
        rs=() ms=() cr=() cg=()
        for _ in $(seq "$REPEAT"); do
            if [ $what = small ]; then
                read -r r b secs cpu < <(run $s /1k.bin "$CONNS_SMALL" "$STREAMS_SMALL")
            else
                read -r r b secs cpu < <(run $s /100m.bin "$CONNS_BIG" "$STREAMS_BIG")
            fi
            rs+=("$(awk -v r="$r" -v s="$secs" 'BEGIN { printf "%.0f", r / s }')")
            ms+=("$(awk -v b="$b" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1048576 }')")
            cr+=("$(awk -v c="$cpu" -v r="$r" 'BEGIN { printf "%.2f", r ? c * 1e6 / r : 0 }')")
            cg+=("$(awk -v c="$cpu" -v b="$b" 'BEGIN { printf "%.3f", b ? c * 1073741824 / b : 0 }')")
        done
        REQS[$s$what]=$(printf '%s\n' "${rs[@]}" | median)
        MIBS[$s$what]=$(printf '%s\n' "${ms[@]}" | median)
        CPUR[$s$what]=$(printf '%s\n' "${cr[@]}" | median)
        CPUG[$s$what]=$(printf '%s\n' "${cg[@]}" | median)
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
echo "HTTP/3 bench $(date -u '+%F %H:%M') UTC: $("$FERRY_BIN" --version 2>/dev/null | head -1), caddy $(caddy version | cut -d' ' -f1)"
echo "kernel $(uname -r), $(nproc) cores; servers on core 0, bench/h3client on core 1"
echo "median of REPEAT=$REPEAT runs of DURATION=${DURATION}s; cpu = the server's CPU time (user+sys) per request or per GiB"
echo
printf '%-40s %-6s %10s %10s %6s %9s %9s %6s %s\n' measurement unit ferry caddy f/c "cpu ferry" "cpu caddy" f/c "cpu unit"
printf '%-40s %-6s %10s %10s %6s %9s %9s %6s %s\n' \
    "GET 1 KiB, ${CONNS_SMALL} conns x ${STREAMS_SMALL} streams" req/s \
    "${REQS[ferrysmall]}" "${REQS[caddysmall]}" "$(ratio "${REQS[ferrysmall]}" "${REQS[caddysmall]}")" \
    "${CPUR[ferrysmall]}" "${CPUR[caddysmall]}" "$(ratio "${CPUR[ferrysmall]}" "${CPUR[caddysmall]}")" us/req
printf '%-40s %-6s %10s %10s %6s %9s %9s %6s %s\n' \
    "GET 100 MiB, ${CONNS_BIG} conns x ${STREAMS_BIG} streams" MiB/s \
    "${MIBS[ferrybig]}" "${MIBS[caddybig]}" "$(ratio "${MIBS[ferrybig]}" "${MIBS[caddybig]}")" \
    "${CPUG[ferrybig]}" "${CPUG[caddybig]}" "$(ratio "${CPUG[ferrybig]}" "${CPUG[caddybig]}")" s/GiB
