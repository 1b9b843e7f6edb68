#!/usr/bin/env bash
# On-the-fly compression: ferry vs nginx (`gzip on; gzip_comp_level 6`) vs
# Caddy (`encode zstd gzip`), GET of a 100 KiB stylesheet with no
# precompressed sibling and `Accept-Encoding: gzip, br, zstd`.
#
#   bash bench/compress.sh                  # REPEAT=3 DURATION=5
#   FERRY_BIN=/path/to/ferry bash bench/compress.sh
#   KEEP_TMP=1 bash bench/compress.sh       # keep the temp dir (configs, logs)
#
# Servers run on core 0 (taskset -c 0), wrk on core 1 (taskset -c 1 wrk -t1,
# 50 connections). Each answer is checked first (status, Content-Encoding,
# the decoded body equal to the file). Reported: req/s, server CPU per request
# (utime+stime of its processes from /proc/PID/stat), bytes per response (the
# coded body, and what wrk read per response: head and framing included), and
# ferry's cost of a first request per coding (the compression, before its
# cache has the variant). Progress goes to stderr; the table alone to stdout.
set -euo pipefail

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
PORT_ferry=18091
PORT_nginx=18092
PORT_caddy=18093
SERVERS=(ferry nginx caddy)
AE='Accept-Encoding: gzip, br, zstd'

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

source "$HERE/lib.sh"

positive REPEAT
positive DURATION seconds

# ---------------------------------------------------------------- tools
command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx || die "cannot install nginx"
command -v caddy >/dev/null || apt_install caddy || die "cannot install caddy"
command -v wrk >/dev/null || apt_install wrk || die "cannot install wrk"
command -v curl >/dev/null || apt_install curl || die "cannot install curl"
command -v taskset >/dev/null || apt_install util-linux || die "cannot install taskset"
command -v python3 >/dev/null || apt_install python3 || die "cannot install python3"
NGINX=$(command -v nginx)
CADDY=$(command -v caddy)
CLK_TCK=$(getconf CLK_TCK)
curl -V | grep -q zstd || die "this curl cannot decode zstd (curl -V); the checks need it"

build_ferry

[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (servers on core 0, wrk on core 1)"

# ---------------------------------------------------------------- cleanup
bench_tmp ferry-bench-compress

# ---------------------------------------------------------------- fixture
# 100 KiB of stylesheet as a framework writes it: rules over a vocabulary of
# selectors, properties and values, media queries and comments, from a fixed
# seed (the same bytes on every run), no sibling.
W=$T/www
mkdir -p "$W" "$T/res"
python3 - "$W/app.css" <<'PY'
import random, sys
rnd = random.Random(20)
blocks = ["btn", "card", "nav", "navbar", "modal", "form", "input", "table", "alert", "badge",
          "dropdown", "list-group", "toast", "tooltip", "pagination", "breadcrumb", "carousel"]
elems = ["header", "body", "footer", "title", "item", "link", "icon", "text", "group", "toggle"]
mods = ["primary", "secondary", "success", "danger", "warning", "info", "light", "dark", "sm", "lg", "active", "disabled"]
props = [("display", ["block", "flex", "inline-block", "none", "grid"]),
         ("padding", ["0", ".25rem .5rem", ".375rem .75rem", "1rem", "0 1.5rem"]),
         ("margin", ["0", "0 auto", ".5rem 0", "1rem 0 0", "-1px"]),
         ("color", ["#212529", "#0d6efd", "#6c757d", "#fff", "rgba(0,0,0,.55)", "var(--bs-body-color)"]),
         ("background-color", ["transparent", "#f8f9fa", "#0d6efd", "var(--bs-tertiary-bg)", "#e9ecef"]),
         ("border", ["0", "1px solid transparent", "1px solid #dee2e6", "var(--bs-border-width) solid var(--bs-border-color)"]),
         ("border-radius", ["0", ".25rem", ".375rem", "50rem", "var(--bs-border-radius)"]),
         ("font-size", ["1rem", ".875rem", "1.25rem", "calc(1.275rem + .3vw)"]),
         ("font-weight", ["400", "500", "600", "700"]), ("line-height", ["1.5", "1.2", "1"]),
         ("transition", ["color .15s ease-in-out,background-color .15s ease-in-out,border-color .15s ease-in-out,box-shadow .15s ease-in-out", "opacity .15s linear", "transform .3s ease-out"]),
         ("box-shadow", ["none", "0 .5rem 1rem rgba(0,0,0,.15)", "inset 0 1px 2px rgba(0,0,0,.075)"]),
         ("align-items", ["center", "flex-start", "stretch"]), ("justify-content", ["space-between", "center", "flex-end"]),
         ("position", ["relative", "absolute", "sticky"]), ("z-index", ["1", "1000", "1055", "1070"]),
         ("width", ["100%", "auto", "1rem", "var(--bs-modal-width)"]), ("opacity", ["0", ".5", ".65", "1"])]
out = []
while sum(map(len, out)) < 100 * 1024:
    r = rnd.random()
    if r < 0.05:
        out.append("/* %s - %s */\n" % (rnd.choice(blocks), " ".join(rnd.choice(elems + mods) for _ in range(6))))
        continue
    sel = "." + rnd.choice(blocks)
    if rnd.random() < 0.6: sel += "-" + rnd.choice(elems)
    if rnd.random() < 0.5: sel += "-" + rnd.choice(mods)
    if rnd.random() < 0.2: sel += ":" + rnd.choice(["hover", "focus", "focus-visible", "disabled", "not(:last-child)"])
    if rnd.random() < 0.2: sel += ", ." + rnd.choice(blocks) + "-" + rnd.choice(mods)
    body = "".join("  %s: %s;\n" % (p, rnd.choice(vs)) for p, vs in rnd.sample(props, rnd.randint(1, 6)))
    rule = "%s {\n%s}\n" % (sel, body)
    if rnd.random() < 0.08:
        rule = "@media (min-width: %dpx) {\n%s}\n" % (rnd.choice([576, 768, 992, 1200, 1400]), rule)
    out.append(rule)
open(sys.argv[1], "w").write("".join(out)[:100 * 1024])
PY
touch -d '2024-01-01 00:00:00 UTC' "$W/app.css"
SIZE=$(stat -c %s "$W/app.css")

# ---------------------------------------------------------------- configs
nginx_conf "$T" "        root $W;
        types { text/css css; }
        gzip on;
        gzip_comp_level 6;
        gzip_types text/css;
        gzip_min_length 1024;
        gzip_vary on;"
mkdir -p "$T/caddy"
cat >"$T/caddy/Caddyfile" <<CONF
{
    admin off
    auto_https off
}
http://127.0.0.1:$PORT_caddy {
    root * $W
    encode zstd gzip
    file_server
}
CONF

# ---------------------------------------------------------------- servers
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
    caddy)
        XDG_DATA_HOME=$T/caddy XDG_CONFIG_HOME=$T/caddy HOME=$T/caddy \
            $PIN "$CADDY" run --adapter caddyfile --config "$T/caddy/Caddyfile" \
            </dev/null >>"$T/caddy/stderr.log" 2>&1 &
        ;;
    esac
    pid=$!
    PID[$name]=$pid
    port=$(port_of "$name")
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start; see the logs under $T (KEEP_TMP=1 keeps them)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            sleep 0.3
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- checks
FAILS=()
fail() { log "WRONG ANSWER, measurement skipped: $*"; FAILS+=("$*"); }
declare -A CODING=() BODY=()
# verify NAME: 200, a coding, the decoded body equal to the file; records the
# coding and the coded body's size.
verify() {
    local name=$1 url status coding
    url="http://127.0.0.1:$(port_of "$name")/app.css"
    status=$(curl -sS --max-time 30 -o "$T/raw" -D "$T/raw.hdr" -w '%{http_code}' -H "$AE" "$url") ||
        { fail "$name: curl failed"; return 1; }
    [ "$status" = 200 ] || { fail "$name: status $status"; return 1; }
    coding=$(header_of "$T/raw.hdr" content-encoding)
    case $coding in zstd | br | gzip) ;; *) fail "$name: Content-Encoding '$coding'"; return 1 ;; esac
    curl -sS --max-time 30 --compressed -o "$T/decoded" -H "$AE" "$url" ||
        { fail "$name: curl --compressed failed"; return 1; }
    [ "$(sha "$T/decoded")" = "$(sha "$W/app.css")" ] ||
        { fail "$name: the decoded $coding body differs from the file"; return 1; }
    CODING[$name]=$coding
    BODY[$name]=$(stat -c %s "$T/raw")
}

# ---------------------------------------------------------------- wrk
to_bytes() { # "12.34MB" -> bytes (wrk's units are powers of 1024)
    awk -v s="$1" 'BEGIN {
        n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
        f = 1
        if (u == "KB") f = 1024; else if (u == "MB") f = 1048576
        else if (u == "GB") f = 1073741824
        printf "%.0f", n * f
    }'
}
measure() { # NAME
    local name=$1 c0 c1 out=$T/wrk.out rps reqs readb cpu_s
    c0=$(cpu_ticks "$name")
    if ! $WRK -c50 -d"${DURATION}s" -H "$AE" "http://127.0.0.1:$(port_of "$name")/app.css" >"$out" 2>&1; then
        fail "$name: wrk failed: $(tr '\n' ' ' <"$out")"
        return 0
    fi
    c1=$(cpu_ticks "$name")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    reqs=$(awk '/ requests in / { print $1 }' "$out")
    readb=$(awk '/ requests in / { print $5 }' "$out" | tr -d ',')
    if [ -z "$rps" ] || [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        fail "$name: wrk gave no result: $(tr '\n' ' ' <"$out")"
        return 0
    fi
    grep -q -e '^  Socket errors' -e '^  Non-2xx' "$out" && log "  $name: $(grep -e 'Socket errors' -e 'Non-2xx' "$out" | tr -s ' \n' ' ')"
    cpu_s=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.6f", t / hz }')
    echo "$rps" >>"$T/res/rps.$name"
    awk -v c="$cpu_s" -v n="$reqs" 'BEGIN { printf "%.4f\n", c * 1e6 / n }' >>"$T/res/cpu.$name"
    awk -v b="$(to_bytes "$readb")" -v n="$reqs" 'BEGIN { printf "%.0f\n", b / n }' >>"$T/res/wire.$name"
    log "  $(printf '%-6s' "$name") $rps req/s, cpu ${cpu_s}s for $reqs requests"
}

# ---------------------------------------------------------------- first requests
# ferry's first request per coding on a fresh server: the compression (read,
# code, cache) plus one request; against the same request from the cache.
first_cost() {
    local coding t_first t_warm
    start_server ferry
    # One identity request first: the server's own first-request costs (the
    # file opened and cached, the date formatted) are not the compression's.
    curl -sS -o /dev/null "http://127.0.0.1:$PORT_ferry/app.css"
    for coding in zstd br gzip; do
        t_first=$(curl -sS -o /dev/null -w '%{time_total}' -H "Accept-Encoding: $coding" "http://127.0.0.1:$PORT_ferry/app.css")
        t_warm=$(for _ in 1 2 3 4 5; do
            curl -sS -o /dev/null -w '%{time_total}\n' -H "Accept-Encoding: $coding" "http://127.0.0.1:$PORT_ferry/app.css"
        done | sort -g | sed -n 3p)
        echo "$coding $t_first $t_warm" >>"$T/res/first"
        log "  ferry first $coding: ${t_first}s (from the cache: ${t_warm}s)"
    done
    stop_server ferry
}

log "fixture app.css ($SIZE bytes) and configs in $T; ferry $FERRY_BIN; REPEAT=$REPEAT DURATION=${DURATION}s"
for r in $(seq "$REPEAT"); do
    first_cost
    order=()
    for i in 0 1 2; do order+=("${SERVERS[$(((i + r - 1) % 3))]}"); done
    log "repeat $r/$REPEAT (order: ${order[*]})"
    for s in "${order[@]}"; do start_server "$s"; done
    for s in "${order[@]}"; do
        # ferry's cache is warm after verify's requests.
        verify "$s" && measure "$s"
    done
    for s in "${SERVERS[@]}"; do stop_server "$s"; done
done

# ---------------------------------------------------------------- the table
declare -A RPS=() CPU=() WIRE=()
for s in "${SERVERS[@]}"; do
    RPS[$s]=$(median "$T/res/rps.$s")
    CPU[$s]=$(median "$T/res/cpu.$s")
    WIRE[$s]=$(median "$T/res/wire.$s")
done

ferry_version=$("$FERRY_BIN" --version 2>&1 | head -1) || true
nginx_version=$("$NGINX" -v 2>&1 | head -1 | sed 's/^nginx version: //') || true
caddy_version=$("$CADDY" version 2>&1 | head -1 | awk '{ print "caddy " $1 }') || true
wrk_version=$( (wrk -v 2>&1 || true) | head -1 | awk '{ print $1, $2 }') || true
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "ferry compress bench $(date -u '+%Y-%m-%d %H:%M UTC'): $ferry_version, $nginx_version, $caddy_version, $wrk_version"
echo "kernel $(uname -r), ${cpu_model:-unknown CPU}, $(nproc --all) cores; servers on core 0, wrk -t1 -c50 on core 1"
echo "GET /app.css ($SIZE bytes of CSS, no sibling), '$AE'; median of REPEAT=$REPEAT runs of DURATION=${DURATION}s"
echo
ROWFMT='%-7s %-8s %10s %9s %12s %12s %10s %10s\n'
# shellcheck disable=SC2059
printf "$ROWFMT" server coding req/s f/x 'cpu us/req' 'body bytes' 'wire B/req' 'body/nginx'
for s in "${SERVERS[@]}"; do
    # shellcheck disable=SC2059
    printf "$ROWFMT" "$s" "${CODING[$s]:-FAIL}" "$(fmt "${RPS[$s]}" 0)" \
        "$(ratio "${RPS[ferry]}" "${RPS[$s]}")" "$(fmt "${CPU[$s]}" 1)" "${BODY[$s]:-FAIL}" \
        "$(fmt "${WIRE[$s]}" 0)" "$(ratio "${BODY[$s]:-}" "${BODY[nginx]:-}")"
done
echo
echo "f/x = ferry's req/s / this server's; ferry's cache is warm (each variant made once)."
echo "ferry's first request per coding (compression + one request), median over the repeats,"
echo "against the same request answered from the cache:"
for coding in zstd br gzip; do
    first=$(awk -v c="$coding" '$1 == c { print $2 }' "$T/res/first" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    warm=$(awk -v c="$coding" '$1 == c { print $3 }' "$T/res/first" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    awk -v c="$coding" -v f="$first" -v w="$warm" 'BEGIN { printf "  %-5s first %.2f ms, cached %.2f ms\n", c, f * 1000, w * 1000 }'
done
if [ ${#FAILS[@]} -gt 0 ]; then
    echo
    echo "wrong answers (those measurements were skipped):"
    printf '  %s\n' "${FAILS[@]}"
fi
