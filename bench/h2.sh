#!/usr/bin/env bash
# HTTP/2 and HTTPS: ferry vs nginx vs lighttpd on loopback (issue #15).
#
#   bash bench/h2.sh                       # REPEAT=3 DURATION=5, all rows
#   ROWS="1 2 7" bash bench/h2.sh          # some rows only
#   FERRY_BIN=/path/to/ferry bash bench/h2.sh    # skip the cargo build
#   KEEP_TMP=1 bash bench/h2.sh            # keep the temp dir (configs, logs, h2load output)
#
# Servers run on core 0 (taskset -c 0) with one worker, h2load on core 1
# (taskset -c 1 h2load -t1). TLS 1.3 only, one self-signed P-256 certificate
# for all three, no access logs. Rows 1-6 and 8 go over TLS, row 7 over
# cleartext HTTP/2 (h2c, prior knowledge). Server CPU = utime + stime from
# /proc/PID/stat (nginx: master + worker) over the h2load run.
# Progress goes to stderr; the result table alone goes to stdout.
# See bench/README.md for what each row means.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
ROWS=${ROWS:-1 2 3 4 5 6 7 8}
CLOSE_CONNS=${CLOSE_CONNS:-1}
SERVERS=(ferry nginx lighttpd)
TLS13_CIPHER=TLS_AES_128_GCM_SHA256

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
LOG_TAG=bench/h2

source "$HERE/lib.sh"

positive REPEAT
positive DURATION seconds
CLOSE_N=${CLOSE_N:-$((1000 * DURATION))}
positive CLOSE_CONNS
positive CLOSE_N requests
for r in $ROWS; do
    case $r in [1-8]) ;; *) die "ROWS: no row '$r' (rows are 1 to 8)" ;; esac
done
wanted() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }

# Ports by phase: the TLS servers (rows 1-6, 8), then the h2c ones (row 7).
set_phase() { # tls|h2c
    PHASE=$1
    if [ "$1" = tls ]; then
        PORT_ferry=18381 PORT_nginx=18382 PORT_lighttpd=18383 SCHEME=https
    else
        PORT_ferry=18391 PORT_nginx=18392 PORT_lighttpd=18393 SCHEME=http
    fi
}

# ---------------------------------------------------------------- tools
command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx || die "cannot install nginx"
command -v lighttpd >/dev/null || apt_install lighttpd || die "cannot install lighttpd"
command -v h2load >/dev/null || apt_install nghttp2-client || die "cannot install h2load (nghttp2-client)"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
command -v openssl >/dev/null || apt_install openssl || die "cannot install openssl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
NGINX=$(command -v nginx)
LIGHTTPD=$(command -v lighttpd)
CLK_TCK=$(getconf CLK_TCK)
curl -V | grep -q 'HTTP2' || die "this curl has no HTTP/2 (curl -V lists no HTTP2)"
"$NGINX" -V 2>&1 | grep -q -- '--with-http_v2_module' || die "$NGINX is built without http_v2_module"
nginx_version=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
# nginx 1.25.1 made HTTP/2 a directive (`http2 on;`); before, a listen parameter.
if [ "$(printf '%s\n' 1.25.1 "$nginx_version" | sort -V | head -1)" = 1.25.1 ]; then
    NGINX_H2_PARAM= NGINX_H2_DIRECTIVE='        http2 on;'
else
    NGINX_H2_PARAM=' http2' NGINX_H2_DIRECTIVE=
fi

build_ferry

[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (servers on core 0, h2load on core 1)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 2200 ] || log "warning: ulimit -n is $(ulimit -n); the 1000-connection row may fail"

# ---------------------------------------------------------------- cleanup
bench_tmp ferry-bench-h2

# ---------------------------------------------------------------- fixture
W=$T/www
mkdir -p "$W" "$T/res" "$T/out"
head -c 1024 /dev/urandom >"$W/1k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$W/100m.bin"
touch -d '2024-01-01 00:00:00 UTC' "$W/1k.bin" "$W/100m.bin"
cat "$W/100m.bin" >/dev/null # warm the page cache
# One self-signed ECDSA P-256 certificate for all three servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || die "openssl could not make the certificate"

# ---------------------------------------------------------------- configs
# $T/tls and $T/h2c each hold an nginx and a lighttpd configured as run.sh's
# (write_configs), then given TLS or h2c.
for phase in tls h2c; do
    set_phase "$phase"
    write_configs "$T/$phase" "$W"
    if [ "$phase" = tls ]; then
        nginx_conf "$T/$phase" "        root $W;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_cache shared:SSL:1m;
$NGINX_H2_DIRECTIVE" "ssl$NGINX_H2_PARAM"
        cat >>"$T/$phase/lighttpd/lighttpd.conf" <<CONF
server.modules += ( "mod_openssl" )
server.feature-flags += ( "server.h2proto" => "enable" )
ssl.engine = "enable"
ssl.pemfile = "$T/cert.pem"
ssl.privkey = "$T/key.pem"
ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.3" )
CONF
    else
        # Before 1.25.1 a plain `listen ... http2` port speaks h2c only.
        nginx_conf "$T/$phase" "        root $W;
$NGINX_H2_DIRECTIVE" "${NGINX_H2_PARAM# }"
        cat >>"$T/$phase/lighttpd/lighttpd.conf" <<CONF
server.feature-flags += ( "server.h2proto" => "enable", "server.h2c" => "enable" )
CONF
    fi
    "$NGINX" -t -q -p "$T/$phase/nginx/" -e "$T/$phase/nginx/error.log" -c "$T/$phase/nginx/nginx.conf" ||
        die "nginx rejects $T/$phase/nginx/nginx.conf"
    if ! "$LIGHTTPD" -tt -f "$T/$phase/lighttpd/lighttpd.conf" >/dev/null 2>&1; then
        # Debian ships mod_openssl in its own package.
        [ "$phase" = tls ] && apt_install lighttpd-mod-openssl || true
        "$LIGHTTPD" -tt -f "$T/$phase/lighttpd/lighttpd.conf" >&2 ||
            die "lighttpd rejects $T/$phase/lighttpd/lighttpd.conf"
    fi
done

# ---------------------------------------------------------------- servers
start_server() { # NAME (in the current phase)
    local name=$1 port pid
    case $name in
    ferry)
        local tls=(--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --no-http3)
        [ "$PHASE" = h2c ] && tls=(--h2c)
        taskset -c 0 "$FERRY_BIN" serve "$W" --listen "127.0.0.1:$PORT_ferry" "${tls[@]}" \
            --no-access-log </dev/null >>"$T/ferry-$PHASE.log" 2>&1 &
        ;;
    nginx)
        taskset -c 0 "$NGINX" -p "$T/$PHASE/nginx/" -e "$T/$PHASE/nginx/error.log" \
            -c "$T/$PHASE/nginx/nginx.conf" -g 'daemon off;' \
            </dev/null >>"$T/$PHASE/nginx/stderr.log" 2>&1 &
        ;;
    lighttpd)
        taskset -c 0 "$LIGHTTPD" -D -f "$T/$PHASE/lighttpd/lighttpd.conf" \
            </dev/null >>"$T/$PHASE/lighttpd/stderr.log" 2>&1 &
        ;;
    esac
    pid=$!
    PID[$name]=$pid
    port=$(port_of "$name")
    # Ready = the port accepts a connection; no request yet (idle RSS).
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
url_of() { echo "$SCHEME://127.0.0.1:$(port_of "$1")$2"; }
# curl's flags for PROTO: h2 and h1 over TLS 1.3 (any certificate), h2c with
# prior knowledge. The same Accept-Encoding as h2load sends, so that a server
# that compressed would fail the byte comparison.
curl_proto() { # PROTO
    case $1 in
    h2) echo "--http2 --tlsv1.3 -k" ;;
    h1) echo "--http1.1 --tlsv1.3 -k" ;;
    h2c) echo "--http2-prior-knowledge" ;;
    esac
}
want_version() { case $1 in h1) echo 1.1 ;; *) echo 2 ;; esac; }
# Dies unless every server of the phase speaks what the rows need.
check_protocols() {
    local s p v
    for s in "${SERVERS[@]}"; do
        for p in $([ "$PHASE" = tls ] && echo h2 h1 || echo h2c); do
            # shellcheck disable=SC2046
            v=$(curl -sS --max-time 10 $(curl_proto "$p") -o /dev/null -w '%{http_version}' "$(url_of "$s" /1k.bin)") ||
                die "$s: curl ($p) failed; see the logs under $T (KEEP_TMP=1 keeps them)"
            [ "$v" = "$(want_version "$p")" ] ||
                die "$s did not negotiate $p: curl got HTTP/$v (expected HTTP/$(want_version "$p"))"
        done
    done
}

# ---------------------------------------------------------------- checks
FAILS=()
fail() {
    log "WRONG ANSWER, measurement skipped: $*"
    FAILS+=("$*")
}
# verify NAME PROTO PATH STATUS EXPECTED_BODY_FILE|- [HEADER...]
# Status, protocol, Content-Length and the body's SHA-256 ("-": no body, 304).
# The response head stays in $T/v.hdr.
verify() {
    local name=$1 proto=$2 path=$3 want=$4 expect=$5 out status version len cl size
    shift 5
    local args=(-H 'accept-encoding: gzip, deflate')
    for h in "$@"; do args+=(-H "$h"); done
    rm -f "$T/v.hdr" "$T/v.body"
    # shellcheck disable=SC2046
    if ! out=$(curl -sS --max-time 60 $(curl_proto "$proto") -o "$T/v.body" -D "$T/v.hdr" \
        -w '%{http_code} %{http_version}' "${args[@]}" "$(url_of "$name" "$path")"); then
        fail "$name: $proto GET $path ${*:+($*) }: curl failed"
        return 1
    fi
    read -r status version <<<"$out"
    if [ "$version" != "$(want_version "$proto")" ]; then
        fail "$name: $proto GET $path: answered over HTTP/$version"
        return 1
    fi
    if [ "$status" != "$want" ]; then
        fail "$name: $proto GET $path ${*:+($*) }: status $status, expected $want"
        return 1
    fi
    touch "$T/v.body" # curl writes no file for an empty body
    len=$(stat -c %s "$T/v.body")
    if [ "$expect" = - ]; then
        [ "$len" = 0 ] && return 0
        fail "$name: $proto GET $path ($*): $status with a $len-byte body, expected none"
        return 1
    fi
    size=$(stat -c %s "$expect")
    cl=$(header_of "$T/v.hdr" content-length)
    if [ "$cl" != "$size" ]; then
        fail "$name: $proto GET $path: Content-Length '$cl', expected $size"
        return 1
    fi
    if [ "$len" != "$size" ] || [ "$(sha "$T/v.body")" != "$(sha "$expect")" ]; then
        fail "$name: $proto GET $path: body ($len bytes) differs from the file ($size bytes)"
        return 1
    fi
}

# ---------------------------------------------------------------- h2load
# client_seconds VAR: CPU seconds (user + sys) of this shell's finished
# children into VAR. `times` runs in the shell itself: in a subshell it
# would count that subshell's children, none.
client_seconds() {
    times >"$T/times"
    printf -v "$1" '%s' "$(awk 'NR == 2 {
        n = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); n += p[1] * 60 + p[2] }
        printf "%.3f", n }' "$T/times")"
}
passive_opens() { awk '/^Tcp:/ { if (seen) { print $7; exit } seen = 1 }' /proc/net/snmp; }
WARNINGS=()
# measure KEY NAME PROTO CONNS STREAMS CLASS PATH [HEADER...]: h2load for
# DURATION seconds (row 6: CLOSE_N requests) with CONNS connections of
# STREAMS streams; every answer must be CLASS (2 or 3)xx. Appends to
# $T/res/KEY.{rps,mibs,cpu_us,cpu_s_gib}.NAME.
measure() {
    local key=$1 name=$2 proto=$3 conns=$4 streams=$5 class=$6 path=$7 c0 c1 o0 o1 hc0 hc1 rc=0
    local out=$T/out/$key.$name.$(date +%s%N)
    shift 7
    local args=(-t1 -c"$conns" -m"$streams")
    if [ "$key" = r6 ]; then args+=(-n"$CLOSE_N"); else args+=(-D"$DURATION"); fi
    [ "$proto" = h1 ] && args+=(--h1)
    [ "$proto" = h2c ] || args+=(--tls13-ciphers="$TLS13_CIPHER")
    for h in "$@"; do args+=(-H "$h"); done
    o0=$(passive_opens)
    c0=$(cpu_ticks "$name")
    client_seconds hc0
    taskset -c 1 h2load "${args[@]}" "$(url_of "$name" "$path")" >"$out" 2>&1 || rc=$?
    client_seconds hc1
    c1=$(cpu_ticks "$name")
    o1=$(passive_opens)
    if [ "$rc" != 0 ]; then
        fail "$name: h2load exited with $rc for $key: $(tail -3 "$out" | tr '\n' ' ')"
        return 0
    fi
    local secs ok failed errored timeout s2 s3 s4 s5 bytes proto_seen
    secs=$(awk '/^finished in / {
        v = $3; sub(/,$/, "", v); n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "ms") n /= 1e3; else if (u == "us") n /= 1e6
        printf "%.6f", n }' "$out")
    read -r ok failed errored timeout < <(awk '/^requests: / { print $8, $10, $12, $14 }' "$out")
    read -r s2 s3 s4 s5 < <(awk '/^status codes: / { print $3, $5, $7, $9 }' "$out")
    bytes=$(awk '/^traffic: / { v = $3; gsub(/[()]/, "", v); print v }' "$out")
    proto_seen=$(awk -F': ' '/^Application protocol:/ { print $2 }' "$out")
    if [ -z "$secs" ] || [ -z "${ok:-}" ] || [ "$ok" = 0 ]; then
        fail "$name: h2load gave no result for $key: $(tail -5 "$out" | tr '\n' ' ')"
        return 0
    fi
    case $proto in
    h2) [ "$proto_seen" = h2 ] || { fail "$name $key: h2load negotiated '$proto_seen', not h2"; return 0; } ;;
    h1) [ "$proto_seen" = http/1.1 ] || { fail "$name $key: h2load negotiated '$proto_seen', not http/1.1"; return 0; } ;;
    esac
    if [ "$proto" != h2c ] && ! grep -q '^TLS Protocol: TLSv1.3$' "$out"; then
        fail "$name $key: not TLS 1.3: $(grep '^TLS Protocol' "$out")"
        return 0
    fi
    local wrong=$((s2 + s3 + s4 + s5))
    wrong=$((wrong - $([ "$class" = 3 ] && echo "$s3" || echo "$s2")))
    if [ "$failed" != 0 ] || [ "$errored" != 0 ] || [ "$timeout" != 0 ] || [ "$wrong" != 0 ]; then
        WARNINGS+=("$name $key: $(grep -e '^requests:' -e '^status codes:' "$out" | tr '\n' ' ')")
    fi
    # A new connection per request: the kernel must have accepted at least
    # one per request (other programs can only add to the count).
    if [ "$key" = r6 ] && [ $((o1 - o0)) -lt "$ok" ]; then
        WARNINGS+=("$name $key: $ok requests but only $((o1 - o0)) connections accepted (connections were reused)")
    fi
    local cpu_s
    cpu_s=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.6f", t / hz }')
    awk -v n="$ok" -v s="$secs" 'BEGIN { printf "%.2f\n", n / s }' >>"$T/res/$key.rps.$name"
    awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.3f\n", b / 1048576 / s }' >>"$T/res/$key.mibs.$name"
    awk -v c="$cpu_s" -v n="$ok" 'BEGIN { printf "%.4f\n", c * 1e6 / n }' >>"$T/res/$key.cpu_us.$name"
    awk -v c="$cpu_s" -v b="$bytes" 'BEGIN { if (b > 0) printf "%.6f\n", c / (b / 1073741824) }' >>"$T/res/$key.cpu_s_gib.$name"
    # h2load's own share of its core: near 100 %, the client set the rate.
    awk -v a="$hc0" -v b="$hc1" -v s="$secs" \
        'BEGIN { printf "%.1f\n", 100 * (b - a) / s }' >>"$T/res/$key.client_pct.$name"
    log "  $(printf '%-8s' "$name") $key: $ok answers in ${secs}s ($(tail -1 "$T/res/$key.rps.$name")/s, $(tail -1 "$T/res/$key.mibs.$name") MiB/s), cpu ${cpu_s}s, h2load $(tail -1 "$T/res/$key.client_pct.$name") % of its core"
}

# ---------------------------------------------------------------- the rows
run_one() { # ROW NAME
    local row=$1 name=$2 e
    case $row in
    1) verify "$name" h2 /1k.bin 200 "$W/1k.bin" && measure r1 "$name" h2 50 10 2 /1k.bin ;;
    2)
        # The ETag each server gives in its own 200 (they all make different ones).
        verify "$name" h2 /1k.bin 200 "$W/1k.bin" || return 0
        e=$(header_of "$T/v.hdr" etag)
        [ -n "$e" ] || { fail "$name: h2 GET /1k.bin: no ETag"; return 0; }
        verify "$name" h2 /1k.bin 304 - "if-none-match: $e" &&
            measure r2 "$name" h2 50 10 3 /1k.bin "if-none-match: $e"
        ;;
    3) verify "$name" h1 /1k.bin 200 "$W/1k.bin" && measure r3 "$name" h1 50 1 2 /1k.bin ;;
    4) verify "$name" h2 /100m.bin 200 "$W/100m.bin" && measure r4 "$name" h2 4 1 2 /100m.bin ;;
    5) verify "$name" h1 /100m.bin 200 "$W/100m.bin" && measure r5 "$name" h1 4 1 2 /100m.bin ;;
    6)
        verify "$name" h1 /1k.bin 200 "$W/1k.bin" "connection: close" &&
            measure r6 "$name" h1 "$CLOSE_CONNS" 1 2 /1k.bin "connection: close"
        ;;
    7) verify "$name" h2c /1k.bin 200 "$W/1k.bin" && measure r7 "$name" h2c 50 10 2 /1k.bin ;;
    8)
        if verify "$name" h2 /1k.bin 200 "$W/1k.bin"; then
            measure r8 "$name" h2 1000 10 2 /1k.bin
            mem_kib "$name" VmHWM >>"$T/res/r8.hwm.$name"
        fi
        ;;
    esac
    return 0
}

tls_rows=()
for r in 8 1 2 3 4 5 6; do wanted "$r" && tls_rows+=("$r"); done
log "fixture, certificate and configs in $T; ferry $FERRY_BIN; REPEAT=$REPEAT DURATION=${DURATION}s ROWS='$ROWS'"
for rep in $(seq "$REPEAT"); do
    # Servers alternate; the one that goes first rotates with each repeat.
    order=()
    for i in 0 1 2; do order+=("${SERVERS[$(((i + rep - 1) % 3))]}"); done
    log "repeat $rep/$REPEAT (order: ${order[*]})"
    for phase in tls h2c; do
        if [ "$phase" = tls ]; then rows=("${tls_rows[@]}"); else rows=(); wanted 7 && rows=(7); fi
        [ ${#rows[@]} -gt 0 ] || continue
        set_phase "$phase"
        # Fresh servers each repeat: idle RSS before any request, then row 8
        # first, so that VmHWM (a high-water mark since start) is its peak.
        for s in "${order[@]}"; do start_server "$s"; done
        sleep 0.5
        for s in "${order[@]}"; do mem_kib "$s" VmRSS >>"$T/res/idle_$phase.rss.$s"; done
        check_protocols
        for row in "${rows[@]}"; do
            for s in "${order[@]}"; do run_one "$row" "$s"; done
        done
        for s in "${SERVERS[@]}"; do stop_server "$s"; done
    done
done

# ---------------------------------------------------------------- the table
ferry_version=$("$FERRY_BIN" --version 2>&1 | head -1) || true
lighttpd_version=$("$LIGHTTPD" -v 2>&1 | head -1 | sed 's/ - .*//') || true
h2load_version=$(h2load --version 2>&1 | head -1) || true
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "ferry HTTP/2 bench $(date -u '+%Y-%m-%d %H:%M UTC'): $ferry_version, nginx/$nginx_version, $lighttpd_version, $h2load_version"
echo "kernel $(uname -r), ${cpu_model:-unknown CPU}, $(nproc --all) cores; servers on core 0, h2load -t1 on core 1"
echo "TLS 1.3 $TLS13_CIPHER, P-256 certificate; median of REPEAT=$REPEAT runs of DURATION=${DURATION}s (row 6: $CLOSE_N requests)"
echo "f/x = ferry / x; cpu = server CPU time (user+sys) per request, per connection or per GiB"
echo
table_header
wanted 1 && table_row 1 'h2 GET 1 KiB, 50 conns x 10' req/s r1.rps 0 r1.cpu_us us/req
wanted 2 && table_row 2 'h2 304 If-None-Match, 50 x 10' req/s r2.rps 0 r2.cpu_us us/req
wanted 3 && table_row 3 'HTTPS/1.1 GET 1 KiB, 50 conns' req/s r3.rps 0 r3.cpu_us us/req
wanted 4 && table_row 4 'h2 GET 100 MiB, 4 conns' MiB/s r4.mibs 1 r4.cpu_s_gib s/GiB
wanted 5 && table_row 5 'HTTPS/1.1 GET 100 MiB, 4 conns' MiB/s r5.mibs 1 r5.cpu_s_gib s/GiB
wanted 6 && table_row 6 "new TLS conn per request, $CLOSE_CONNS conn" conn/s r6.rps 0 r6.cpu_us us/conn
wanted 7 && table_row 7 'h2c GET 1 KiB, 50 conns x 10' req/s r7.rps 0 r7.cpu_us us/req
wanted 8 && table_row 8 'h2 GET 1 KiB, 1000 conns x 10' req/s r8.rps 0 r8.cpu_us us/req
wanted 8 && table_row 8 'h2 1000 x 10: peak RSS' MiB r8.hwm 1
[ ${#tls_rows[@]} -gt 0 ] && table_row i 'idle RSS after start, TLS' MiB idle_tls.rss 1
wanted 7 && table_row i 'idle RSS after start, h2c' MiB idle_h2c.rss 1
echo
echo "h2load's CPU time as a share of its core during each row (medians; near 100 % the client, not the server, set the rate)"
for r in 1 2 3 4 5 6 7 8; do
    wanted "$r" || continue
    line="row $r:"
    for s in "${SERVERS[@]}"; do
        v=$(median "$T/res/r$r.client_pct.$s")
        if [ -n "$v" ]; then line+=" $s $(fmt "$v" 0) %"; else line+=" $s -"; fi
    done
    echo "$line"
done
if [ ${#FAILS[@]} -gt 0 ]; then
    echo
    echo "wrong answers (those measurements were skipped):"
    printf '  %s\n' "${FAILS[@]}"
fi
if [ ${#WARNINGS[@]} -gt 0 ]; then
    echo
    echo "h2load reported errors or unexpected statuses:"
    printf '  %s\n' "${WARNINGS[@]}"
fi
exit 0
