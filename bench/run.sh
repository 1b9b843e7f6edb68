#!/usr/bin/env bash
# ferry vs nginx vs lighttpd on loopback: throughput, CPU per request, memory.
#
#   bash bench/run.sh                      # REPEAT=3 DURATION=5
#   REPEAT=5 DURATION=10 bash bench/run.sh
#   ROWS="2 3 6" REPEAT=9 bash bench/run.sh   # some rows only (1 to 8, i)
#   FERRY_BIN=/path/to/ferry bash bench/run.sh   # skip the cargo build
#   KEEP_TMP=1 bash bench/run.sh           # keep the temp dir (configs, logs)
#
# Servers run on core 0 (taskset -c 0), wrk on core 1 (taskset -c 1 wrk -t1).
# Progress goes to stderr; the result table alone goes to stdout.
# See bench/README.md for what each row means.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
ROWS=${ROWS:-1 2 3 4 5 6 7 8 i}
PORT_ferry=18081
PORT_nginx=18082
PORT_lighttpd=18083
SERVERS=(ferry nginx lighttpd)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

source "$HERE/lib.sh"

positive REPEAT
positive DURATION seconds
for r in $ROWS; do
    case $r in [1-8] | i) ;; *) die "ROWS: no row '$r' (rows are 1 to 8 and i)" ;; esac
done
wanted() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }
# The measurements of each row, in the order they run (row 8, idle RSS, is
# read at every start; row 7's peak RSS needs its run first after a start).
KEYS=()
for r in 7 1 2 3 4 5 6; do
    if wanted "$r"; then
        case $r in
        1) KEYS+=(get1k) ;; 2) KEYS+=(inm) ;; 3) KEYS+=(ims) ;; 4) KEYS+=(get64k) ;;
        5) KEYS+=(get100m) ;; 6) KEYS+=(range) ;; 7) KEYS+=(c1000) ;;
        esac
    fi
done

# ---------------------------------------------------------------- tools
command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx || die "cannot install nginx"
command -v lighttpd >/dev/null || apt_install lighttpd || die "cannot install lighttpd"
command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
NGINX=$(command -v nginx)
LIGHTTPD=$(command -v lighttpd)
CLK_TCK=$(getconf CLK_TCK)

build_ferry

[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (servers on core 0, wrk on core 1)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 2200 ] || log "warning: ulimit -n is $(ulimit -n); the 1000-connection run may fail"

# ---------------------------------------------------------------- cleanup
bench_tmp ferry-bench

# ---------------------------------------------------------------- fixture
W=$T/www
mkdir -p "$W" "$T/res" "$T/nginx/tmp" "$T/lighttpd"
head -c 1024 /dev/urandom >"$W/1k.bin"
head -c $((64 * 1024)) /dev/urandom >"$W/64k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$W/100m.bin"
touch -d '2024-01-01 00:00:00 UTC' "$W/1k.bin" "$W/64k.bin" "$W/100m.bin"
# bytes=1000000-1000999: 1000 blocks of 1000 bytes skipped, one taken.
dd if="$W/100m.bin" of="$T/range.expect" bs=1000 skip=1000 count=1 status=none
cat "$W/100m.bin" >/dev/null # warm the page cache

# ---------------------------------------------------------------- configs
write_configs "$T" "$W"

# ---------------------------------------------------------------- servers
# Pinned by default; the 2-core phase at the end runs everything unpinned.
PIN="taskset -c 0"
WRK="taskset -c 1 wrk -t1"
start_server() { # NAME
    local name=$1 port pid
    case $name in
    ferry)
        $PIN "$FERRY_BIN" serve "$W" --listen "127.0.0.1:$PORT_ferry" --no-access-log \
            </dev/null >>"$T/ferry.log" 2>&1 &
        ;;
    nginx)
        $PIN "$NGINX" -p "$T/nginx/" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" \
            -g 'daemon off;' </dev/null >>"$T/nginx/stderr.log" 2>&1 &
        ;;
    lighttpd)
        $PIN "$LIGHTTPD" -D -f "$T/lighttpd/lighttpd.conf" \
            </dev/null >>"$T/lighttpd/stderr.log" 2>&1 &
        ;;
    esac
    pid=$!
    PID[$name]=$pid
    port=$(port_of "$name")
    # Ready = the port accepts a connection; no request is made, so the idle
    # RSS below is that of a server that has served nothing yet.
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start; see the logs under $T (KEEP_TMP=1 keeps them)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            sleep 0.3 # let nginx's worker finish starting
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- checks
FAILS=()
# verify NAME PATH STATUS EXPECTED_BODY_FILE|- [HEADER...]
# "-" expects an empty body (304). Prints nothing; returns 1 with a message.
verify() {
    local name=$1 path=$2 want=$3 expect=$4 url status len cl cr
    shift 4
    url="http://127.0.0.1:$(port_of "$name")$path"
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    rm -f "$T/v.hdr" "$T/v.body"
    if ! status=$(curl -sS --max-time 30 -o "$T/v.body" -D "$T/v.hdr" -w '%{http_code}' "${args[@]}" "$url"); then
        fail "$name: GET $path ${*:+($*) }: curl failed"
        return 1
    fi
    if [ "$status" != "$want" ]; then
        fail "$name: GET $path ${*:+($*) }: status $status, expected $want"
        return 1
    fi
    touch "$T/v.body" # curl writes no file for an empty body
    len=$(stat -c %s "$T/v.body")
    cl=$(header_of "$T/v.hdr" content-length)
    if [ "$expect" = - ]; then
        if [ "$len" != 0 ]; then
            fail "$name: GET $path ($*): $status with a $len-byte body, expected none"
            return 1
        fi
        return 0
    fi
    local size
    size=$(stat -c %s "$expect")
    if [ "$cl" != "$size" ]; then
        fail "$name: GET $path ${*:+($*) }: Content-Length '${cl}', expected $size"
        return 1
    fi
    if [ "$len" != "$size" ] || [ "$(sha "$T/v.body")" != "$(sha "$expect")" ]; then
        fail "$name: GET $path ${*:+($*) }: body ($len bytes) differs from the file ($size bytes)"
        return 1
    fi
    if [ "$want" = 206 ]; then
        cr=$(header_of "$T/v.hdr" content-range)
        if [ "$cr" != "bytes 1000000-1000999/$((100 * 1024 * 1024))" ]; then
            fail "$name: GET $path ($*): Content-Range '$cr'"
            return 1
        fi
    fi
}
fail() {
    log "WRONG ANSWER, measurement skipped: $*"
    FAILS+=("$*")
}
head_header() { # NAME PATH HEADER
    curl -sS --max-time 10 -o /dev/null -I -D "$T/h.hdr" "http://127.0.0.1:$(port_of "$1")$2" || true
    header_of "$T/h.hdr" "$3"
}

# ---------------------------------------------------------------- wrk
to_mib() { # "12.34MB" -> MiB (wrk's units are powers of 1024)
    awk -v s="$1" 'BEGIN {
        n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
        f = 1 / 1048576
        if (u == "KB") f = 1 / 1024; else if (u == "MB") f = 1
        else if (u == "GB") f = 1024; else if (u == "TB") f = 1048576
        printf "%.6f", n * f
    }'
}
WARNINGS=()
# measure KEY NAME CONNS PATH [HEADER...]: appends to $T/res/KEY.{rps,mibs,cpu_us,cpu_s_gib}.NAME
measure() {
    local key=$1 name=$2 conns=$3 path=$4 c0 c1 out=$T/wrk.out
    shift 4
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    c0=$(cpu_ticks "$name")
    if ! $WRK -c"$conns" -d"${DURATION}s" "${args[@]}" \
        "http://127.0.0.1:$(port_of "$name")$path" >"$out" 2>&1; then
        fail "$name: wrk failed for $key: $(tr '\n' ' ' <"$out")"
        return 0
    fi
    c1=$(cpu_ticks "$name")
    local rps tr reqs readb mib cpu_s
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    tr=$(awk '/^Transfer\/sec:/ { print $2 }' "$out")
    reqs=$(awk '/ requests in / { print $1 }' "$out")
    readb=$(awk '/ requests in / { print $5 }' "$out")
    if [ -z "$rps" ] || [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        fail "$name: wrk gave no result for $key: $(tr '\n' ' ' <"$out")"
        return 0
    fi
    if grep -q -e '^  Socket errors' -e '^  Non-2xx' "$out"; then
        WARNINGS+=("$name $key: $(grep -e 'Socket errors' -e 'Non-2xx' "$out" | tr -s ' \n' ' ')")
    fi
    cpu_s=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.6f", t / hz }')
    echo "$rps" >>"$T/res/$key.rps.$name"
    echo "$(to_mib "$tr")" >>"$T/res/$key.mibs.$name"
    awk -v c="$cpu_s" -v n="$reqs" 'BEGIN { printf "%.4f\n", c * 1e6 / n }' >>"$T/res/$key.cpu_us.$name"
    mib=$(to_mib "$readb")
    awk -v c="$cpu_s" -v m="$mib" 'BEGIN { if (m > 0) printf "%.6f\n", c / (m / 1024) }' >>"$T/res/$key.cpu_s_gib.$name"
    log "  $(printf '%-8s' "$name") $key: $rps req/s, $(to_mib "$tr") MiB/s, cpu ${cpu_s}s for $reqs requests"
}

# ---------------------------------------------------------------- the runs
ETAG_ferry= ETAG_nginx= ETAG_lighttpd= LASTMOD=
run_one() { # KEY NAME
    local key=$1 name=$2 e lm
    case $key in
    get1k) verify "$name" /1k.bin 200 "$W/1k.bin" && measure get1k "$name" 50 /1k.bin ;;
    get1k2c) verify "$name" /1k.bin 200 "$W/1k.bin" && measure get1k2c "$name" 50 /1k.bin ;;
    inm)
        e=$(head_header "$name" /1k.bin etag)
        [ -n "$e" ] || { fail "$name: HEAD /1k.bin: no ETag"; return 0; }
        verify "$name" /1k.bin 304 - "If-None-Match: $e" &&
            measure inm "$name" 50 /1k.bin "If-None-Match: $e"
        ;;
    ims)
        lm=$(head_header "$name" /1k.bin last-modified)
        [ -n "$lm" ] || { fail "$name: HEAD /1k.bin: no Last-Modified"; return 0; }
        verify "$name" /1k.bin 304 - "If-Modified-Since: $lm" &&
            measure ims "$name" 50 /1k.bin "If-Modified-Since: $lm"
        ;;
    get64k) verify "$name" /64k.bin 200 "$W/64k.bin" && measure get64k "$name" 50 /64k.bin ;;
    get100m) verify "$name" /100m.bin 200 "$W/100m.bin" && measure get100m "$name" 4 /100m.bin ;;
    range)
        verify "$name" /100m.bin 206 "$T/range.expect" "Range: bytes=1000000-1000999" &&
            measure range "$name" 50 /100m.bin "Range: bytes=1000000-1000999"
        ;;
    c1000)
        if verify "$name" /1k.bin 200 "$W/1k.bin"; then
            measure c1000 "$name" 1000 /1k.bin
            mem_kib "$name" VmHWM >>"$T/res/c1000.hwm.$name"
        fi
        ;;
    esac
    return 0
}

log "fixture and configs in $T; ferry $FERRY_BIN; REPEAT=$REPEAT DURATION=${DURATION}s ROWS='$ROWS'"
for r in $(seq "$REPEAT"); do
    # Servers alternate; the one that goes first rotates with each repeat.
    order=()
    for i in 0 1 2; do order+=("${SERVERS[$(((i + r - 1) % 3))]}"); done
    log "repeat $r/$REPEAT (order: ${order[*]})"
    # Fresh servers each repeat: idle RSS, then the 1000-connection run first,
    # so that VmHWM (a high-water mark since start) is that run's peak.
    for s in "${SERVERS[@]}"; do stop_server "$s"; done
    for s in "${order[@]}"; do start_server "$s"; done
    sleep 0.5
    for s in "${order[@]}"; do mem_kib "$s" VmRSS >>"$T/res/idle.rss.$s"; done
    for key in ${KEYS[@]+"${KEYS[@]}"}; do
        for s in "${order[@]}"; do run_one "$key" "$s"; done
    done
done
for s in "${SERVERS[@]}"; do stop_server "$s"; done

# For information: both cores, nothing pinned, wrk with two threads. nginx and
# lighttpd keep their one worker process; ferry runs one worker per core.
if wanted i; then
    PIN=""
    WRK="wrk -t2"
    log "2-core run (unpinned, wrk -t2)"
    for s in "${SERVERS[@]}"; do
        start_server "$s"
        run_one get1k2c "$s"
        stop_server "$s"
    done
fi

# ---------------------------------------------------------------- the table
ferry_version=$("$FERRY_BIN" --version 2>&1 | head -1) || true
nginx_version=$("$NGINX" -v 2>&1 | head -1 | sed 's/^nginx version: //') || true
lighttpd_version=$("$LIGHTTPD" -v 2>&1 | head -1 | sed 's/ - .*//') || true
wrk_version=$( (wrk -v 2>&1 || true) | head -1 | awk '{ print $1, $2 }') || true
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "ferry bench $(date -u '+%Y-%m-%d %H:%M UTC'): $ferry_version, $nginx_version, $lighttpd_version, $wrk_version"
echo "kernel $(uname -r), ${cpu_model:-unknown CPU}, $(nproc --all) cores; servers on core 0, wrk -t1 on core 1"
echo "median of REPEAT=$REPEAT runs of DURATION=${DURATION}s; f/x = ferry / x; cpu = server CPU time (user+sys) per request or per GiB"
echo
table_header
wanted 1 && table_row 1 'GET 1 KiB, 50 conns' req/s get1k.rps 0 get1k.cpu_us us/req
wanted 2 && table_row 2 '304 If-None-Match, 50 conns' req/s inm.rps 0 inm.cpu_us us/req
wanted 3 && table_row 3 '304 If-Modified-Since, 50 conns' req/s ims.rps 0 ims.cpu_us us/req
wanted 4 && table_row 4 'GET 64 KiB, 50 conns' req/s get64k.rps 0 get64k.cpu_us us/req
wanted 4 && table_row 4 'GET 64 KiB, 50 conns' MiB/s get64k.mibs 1
wanted 5 && table_row 5 'GET 100 MiB, 4 conns' MiB/s get100m.mibs 1 get100m.cpu_s_gib s/GiB
wanted 6 && table_row 6 'Range 1000 B of 100 MiB, 50 conns' req/s range.rps 0 range.cpu_us us/req
wanted 7 && table_row 7 'GET 1 KiB, 1000 conns' req/s c1000.rps 0 c1000.cpu_us us/req
wanted 7 && table_row 7 'GET 1 KiB, 1000 conns: peak RSS' MiB c1000.hwm 1
wanted 8 && table_row 8 'idle RSS after start' MiB idle.rss 1
if wanted i; then
    echo
    echo "for information, both cores unpinned, wrk -t2 (nginx and lighttpd: one worker process; ferry: one per core):"
    table_row i 'GET 1 KiB, 50 conns, 2 cores' req/s get1k2c.rps 0 get1k2c.cpu_us us/req
fi
if [ ${#FAILS[@]} -gt 0 ]; then
    echo
    echo "wrong answers (those measurements were skipped):"
    printf '  %s\n' "${FAILS[@]}"
fi
if [ ${#WARNINGS[@]} -gt 0 ]; then
    echo
    echo "wrk reported errors:"
    printf '  %s\n' "${WARNINGS[@]}"
fi
