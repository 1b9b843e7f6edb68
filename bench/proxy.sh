#!/usr/bin/env bash
# `ferry proxy` vs nginx as the front of the same gunicorn app (tests/gunicorn_app):
# X-Accel-Redirect hand-offs, --static, and plain proxied pages. Throughput and
# the front's CPU per request (or per GiB).
#
#   bash bench/proxy.sh                       # REPEAT=3 DURATION=5 GUNICORN_WORKERS=4
#   REPEAT=5 DURATION=10 bash bench/proxy.sh
#   FERRY_BIN=/path/to/ferry bash bench/proxy.sh   # skip the cargo build
#   KEEP_TMP=1 bash bench/proxy.sh            # keep the temp dir (configs, logs)
#
# Fronts run on core 0 (taskset -c 0); gunicorn and wrk share core 1.
# Progress goes to stderr; the result table alone goes to stdout.
# See bench/README.md ("bench/proxy.sh") for what each row means.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
GUNICORN_WORKERS=${GUNICORN_WORKERS:-4}
PORT_app=18180
PORT_ferry=18181
PORT_nginx=18182
PORT_serve=18183
# ferry = `ferry proxy`, nginx = nginx as a reverse proxy, serve = `ferry serve`
# (only for the --static comparison).
SERVERS=(ferry nginx serve)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

source "$HERE/lib.sh"

positive REPEAT
positive DURATION seconds
positive GUNICORN_WORKERS

# ---------------------------------------------------------------- tools
command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx || die "cannot install nginx"
command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
command -v python3 >/dev/null || apt_install python3 python3-venv || die "cannot install python3"
NGINX=$(command -v nginx)
CLK_TCK=$(getconf CLK_TCK)

build_ferry

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
VENV=${FERRY_GUNICORN_VENV:-$TARGET/gunicorn-venv}
if ! "$VENV/bin/gunicorn" --version >/dev/null 2>&1; then
    log "installing gunicorn into $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (apt-get install python3-venv?)"
    "$VENV/bin/pip" install -q 'gunicorn>=21' >&2 || die "pip install gunicorn failed"
fi

[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (fronts on core 0, gunicorn and wrk on core 1)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- cleanup
bench_tmp ferry-proxy-bench app

# ---------------------------------------------------------------- fixture
D=$T/files
mkdir -p "$D" "$T/res" "$T/nginx/tmp"
head -c 1024 /dev/urandom >"$D/1k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$D/100m.bin"
touch -d '2024-01-01 00:00:00 UTC' "$D/1k.bin" "$D/100m.bin"
head -c 1024 /dev/zero | tr '\0' x >"$T/page1k.expect" # the app's /page1k
cat "$D/100m.bin" >/dev/null # warm the page cache

# ---------------------------------------------------------------- configs
# nginx as a reverse proxy the usual way: proxy_pass with its defaults (request
# and response buffering on, HTTP/1.0 to the upstream, a new connection per
# request: gunicorn's sync workers close it anyway), an internal location for
# X-Accel-Redirect, an alias for /static/, sendfile, no access log, one worker.
nginx_conf "$T" "        location /protected/ { internal; alias $D/; }
        location /static/ { alias $D/; }
        location / {
            proxy_pass http://127.0.0.1:$PORT_app;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }"

# ---------------------------------------------------------------- servers
FRONT_PIN="taskset -c 0"
WRK="taskset -c 1 wrk -t1"
start_server() { # NAME
    local name=$1 port pid
    case $name in
    app)
        PRIVATE_ROOT=$D taskset -c 1 "$VENV/bin/gunicorn" --workers "$GUNICORN_WORKERS" \
            --worker-class sync --backlog 2048 --graceful-timeout 2 --log-level warning \
            --bind "127.0.0.1:$PORT_app" --chdir "$ROOT/tests/gunicorn_app" app:app \
            </dev/null >>"$T/gunicorn.log" 2>&1 &
        ;;
    ferry)
        $FRONT_PIN "$FERRY_BIN" proxy --upstream "http://127.0.0.1:$PORT_app" \
            --accel "/protected/=$D" --static "/static/=$D" \
            --listen "127.0.0.1:$PORT_ferry" --no-access-log \
            </dev/null >>"$T/ferry.log" 2>&1 &
        ;;
    serve)
        $FRONT_PIN "$FERRY_BIN" serve "$D" --listen "127.0.0.1:$PORT_serve" --no-access-log \
            </dev/null >>"$T/serve.log" 2>&1 &
        ;;
    nginx)
        $FRONT_PIN "$NGINX" -p "$T/nginx/" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" \
            -g 'daemon off;' </dev/null >>"$T/nginx/stderr.log" 2>&1 &
        ;;
    esac
    pid=$!
    PID[$name]=$pid
    port=$(port_of "$name")
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start; see the logs under $T (KEEP_TMP=1 keeps them)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            sleep 0.3 # let nginx's worker and gunicorn's workers finish starting
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- checks
FAILS=()
fail() {
    log "WRONG ANSWER, measurement skipped: $*"
    FAILS+=("$*")
}
# verify NAME PATH EXPECTED_BODY_FILE: 200, Content-Length and the exact bytes,
# and no hand-off header leaked to the client.
verify() {
    local name=$1 path=$2 expect=$3 url status len cl size
    url="http://127.0.0.1:$(port_of "$name")$path"
    rm -f "$T/v.hdr" "$T/v.body"
    if ! status=$(curl -sS --max-time 30 -o "$T/v.body" -D "$T/v.hdr" -w '%{http_code}' "$url"); then
        fail "$name: GET $path: curl failed"
        return 1
    fi
    if [ "$status" != 200 ]; then
        fail "$name: GET $path: status $status, expected 200"
        return 1
    fi
    touch "$T/v.body"
    len=$(stat -c %s "$T/v.body")
    cl=$(header_of "$T/v.hdr" content-length)
    size=$(stat -c %s "$expect")
    if [ "$cl" != "$size" ]; then
        fail "$name: GET $path: Content-Length '$cl', expected $size"
        return 1
    fi
    if [ "$len" != "$size" ] || [ "$(sha "$T/v.body")" != "$(sha "$expect")" ]; then
        fail "$name: GET $path: body ($len bytes) differs from the expected $size bytes"
        return 1
    fi
    if grep -qiE '^x-(accel-redirect|sendfile):' "$T/v.hdr"; then
        fail "$name: GET $path: the hand-off header reached the client"
        return 1
    fi
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
# measure KEY NAME CONNS PATH: appends to $T/res/KEY.{rps,mibs,cpu_us,cpu_s_gib}.NAME
measure() {
    local key=$1 name=$2 conns=$3 path=$4 c0 c1 out=$T/wrk.out
    c0=$(cpu_ticks "$name")
    if ! $WRK -c"$conns" -d"${DURATION}s" "http://127.0.0.1:$(port_of "$name")$path" >"$out" 2>&1; then
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
    to_mib "$tr" >>"$T/res/$key.mibs.$name"
    echo >>"$T/res/$key.mibs.$name"
    awk -v c="$cpu_s" -v n="$reqs" 'BEGIN { printf "%.4f\n", c * 1e6 / n }' >>"$T/res/$key.cpu_us.$name"
    mib=$(to_mib "$readb")
    awk -v c="$cpu_s" -v m="$mib" 'BEGIN { if (m > 0) printf "%.6f\n", c / (m / 1024) }' >>"$T/res/$key.cpu_s_gib.$name"
    log "  $(printf '%-6s' "$name") $key: $rps req/s, $(to_mib "$tr") MiB/s, front cpu ${cpu_s}s for $reqs requests"
}

# ---------------------------------------------------------------- the runs
run_one() { # KEY NAME
    local key=$1 name=$2
    case $key in
    accel100m) verify "$name" /accel/100m.bin "$D/100m.bin" && measure accel100m "$name" 4 /accel/100m.bin ;;
    accel1k) verify "$name" /accel/1k.bin "$D/1k.bin" && measure accel1k "$name" 50 /accel/1k.bin ;;
    static1k)
        if [ "$name" = serve ]; then
            verify serve /1k.bin "$D/1k.bin" && measure static1k serve 50 /1k.bin
        else
            verify "$name" /static/1k.bin "$D/1k.bin" && measure static1k "$name" 50 /static/1k.bin
        fi
        ;;
    page1k) verify "$name" /page1k "$T/page1k.expect" && measure page1k "$name" 50 /page1k ;;
    esac
    return 0
}

log "fixture and configs in $T; ferry $FERRY_BIN; gunicorn $GUNICORN_WORKERS sync workers; REPEAT=$REPEAT DURATION=${DURATION}s"
start_server app
for s in "${SERVERS[@]}"; do start_server "$s"; done
for r in $(seq "$REPEAT"); do
    # The fronts alternate; the one that goes first rotates with each repeat.
    if [ $((r % 2)) = 1 ]; then order=(ferry nginx); else order=(nginx ferry); fi
    log "repeat $r/$REPEAT (order: ${order[*]})"
    for key in accel100m accel1k page1k; do
        for s in "${order[@]}"; do run_one "$key" "$s"; done
    done
    if [ $((r % 2)) = 1 ]; then order=(ferry serve nginx); else order=(serve nginx ferry); fi
    for s in "${order[@]}"; do run_one static1k "$s"; done
done

# ---------------------------------------------------------------- the table

ROWFMT='%-2s %-50s %-6s %10s %10s %6s  %9s %9s %6s %s\n'
# row NUM LABEL UNIT KEY.METRIC DECIMALS CPU_METRIC CPU_UNIT A B
row() {
    local num=$1 label=$2 unit=$3 metric=$4 dec=$5 cpum=$6 cpuu=$7 a=$8 b=$9
    local va vb ca cb
    va=$(median "$T/res/$metric.$a")
    vb=$(median "$T/res/$metric.$b")
    ca=$(median "$T/res/$cpum.$a")
    cb=$(median "$T/res/$cpum.$b")
    # shellcheck disable=SC2059
    printf "$ROWFMT" "$num" "$label" "$unit" "$(fmt "$va" "$dec")" "$(fmt "$vb" "$dec")" "$(ratio "$va" "$vb")" \
        "$(fmt "$ca" 2)" "$(fmt "$cb" 2)" "$(ratio "$ca" "$cb")" "$cpuu"
}

ferry_version=$("$FERRY_BIN" --version 2>&1 | head -1) || true
nginx_version=$("$NGINX" -v 2>&1 | head -1 | sed 's/^nginx version: //') || true
gunicorn_version=$("$VENV/bin/gunicorn" --version 2>&1 | head -1) || true
wrk_version=$( (wrk -v 2>&1 || true) | head -1 | awk '{ print $1, $2 }') || true
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "ferry proxy bench $(date -u '+%Y-%m-%d %H:%M UTC'): $ferry_version, $nginx_version, $gunicorn_version ($GUNICORN_WORKERS sync workers), $wrk_version"
echo "kernel $(uname -r), ${cpu_model:-unknown CPU}, $(nproc --all) cores; fronts on core 0, gunicorn and wrk -t1 on core 1"
echo "median of REPEAT=$REPEAT runs of DURATION=${DURATION}s; A/B = A's median / B's; cpu = the front's CPU time (user+sys) per request or per GiB"
echo
# shellcheck disable=SC2059
printf "$ROWFMT" '#' 'measurement (A vs B)' unit A B A/B 'cpu A' 'cpu B' A/B 'cpu unit'
row 1 'X-Accel-Redirect 100 MiB, 4 conns (ferry vs nginx)' MiB/s accel100m.mibs 1 accel100m.cpu_s_gib s/GiB ferry nginx
row 2 'X-Accel-Redirect 1 KiB, 50 conns (ferry vs nginx)' req/s accel1k.rps 0 accel1k.cpu_us us/req ferry nginx
row 3 'GET 1 KiB --static, 50 conns (proxy vs serve)' req/s static1k.rps 0 static1k.cpu_us us/req ferry serve
row 3n 'GET 1 KiB /static/, 50 conns (ferry vs nginx)' req/s static1k.rps 0 static1k.cpu_us us/req ferry nginx
row 4 'proxied 1 KiB page, 50 conns (ferry vs nginx)' req/s page1k.rps 0 page1k.cpu_us us/req ferry nginx
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
