# Shared by the scripts under bench/; source it after setting ROOT (the
# repository) and, for nginx_conf, PORT_nginx. Messages are prefixed with
# LOG_TAG (default `bench`).

log() { printf '%s: %s\n' "${LOG_TAG:-bench}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${LOG_TAG:-bench}" "$*" >&2; exit 1; }
# positive NAME [UNIT]: dies unless the variable NAME holds a positive integer.
positive() {
    case ${!1} in '' | *[!0-9]* | 0) die "$1 must be a positive integer${2:+ ($2)}, got '${!1}'" ;; esac
}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
APT_UPDATED=
# apt_install PKG...: installs with apt-get, updating the index once if needed.
apt_install() {
    log "installing $*"
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >&2; then return 0; fi
    [ -z "$APT_UPDATED" ] || return 1
    APT_UPDATED=1
    $SUDO apt-get update -q >&2 || return 1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >&2
}

# build_ferry: sets FERRY_BIN, building the release binary unless it is set.
build_ferry() {
    if [ -z "${FERRY_BIN:-}" ]; then
        local target=${CARGO_TARGET_DIR:-target}
        case $target in /*) ;; *) target=$ROOT/$target ;; esac
        log "building ferry (cargo build --release -p ferry-cli, target dir $target)"
        (cd "$ROOT" && cargo build --release -p ferry-cli >&2) || die "cargo build failed"
        FERRY_BIN=$target/release/ferry
    fi
    [ -x "$FERRY_BIN" ] || die "ferry binary $FERRY_BIN is not executable"
}

# nginx_conf T SERVER [LISTEN_PARAMS]: nginx.conf under T/nginx (one worker,
# sendfile, ETags, no access log, long keep-alive, no types table, temp files
# under T), listening on PORT_nginx (with LISTEN_PARAMS, e.g. `ssl http2`) with
# SERVER (the directives inside its `server` block).
nginx_conf() {
    local T=$1 server=$2 params=${3:-} user=
    mkdir -p "$T/nginx/tmp"
    [ "$(id -u)" = 0 ] && user='user root;'
    cat >"$T/nginx/nginx.conf" <<CONF
$user
worker_processes 1;
worker_rlimit_nofile 8192;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    etag on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types { }
    default_type application/octet-stream;
    client_body_temp_path $T/nginx/tmp/body;
    proxy_temp_path $T/nginx/tmp/proxy;
    fastcgi_temp_path $T/nginx/tmp/fastcgi;
    uwsgi_temp_path $T/nginx/tmp/uwsgi;
    scgi_temp_path $T/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT_nginx${params:+ $params};
$server
    }
}
CONF
}

# write_configs T W: nginx and lighttpd configured alike (one worker, sendfile,
# ETags, no access log, long keep-alive, no types table) serving W, with their
# pid, log and temp files under T.
write_configs() {
    local T=$1 W=$2
    mkdir -p "$T/lighttpd"
    nginx_conf "$T" "        root $W;"
    cat >"$T/lighttpd/lighttpd.conf" <<CONF
server.document-root = "$W"
server.bind = "127.0.0.1"
server.port = $PORT_lighttpd
server.pid-file = "$T/lighttpd/lighttpd.pid"
server.errorlog = "$T/lighttpd/error.log"
server.upload-dirs = ( "$T/lighttpd" )
server.max-worker = 0
server.max-fds = 8192
server.max-connections = 4096
server.network-backend = "sendfile"
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 65
static-file.etags = "enable"
mimetype.assign = ( "" => "application/octet-stream" )
CONF
}

# ---------------------------------------------------------------- measuring
# The servers' main PIDs are in the associative array PID (by NAME), their
# ports in PORT_NAME.
procs_of() { # NAME
    local pid=${PID[$1]}
    echo "$pid"
    ps -o pid= --ppid "$pid" 2>/dev/null || true
}
cpu_ticks() { # NAME -> utime+stime of all its processes, in clock ticks
    local total=0 p line f
    for p in $(procs_of "$1"); do
        line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${line##*) }" # fields from 3 (state) on
        total=$((total + f[11] + f[12])) # 14 utime, 15 stime
    done
    echo "$total"
}
port_of() { local v="PORT_$1"; echo "${!v}"; }
header_of() { # FILE NAME -> value of the first such header
    tr -d '\r' <"$1" | awk -v n="$(printf '%s' "$2" | tr 'A-Z' 'a-z')" '{
        i = index($0, ":")
        if (i > 1 && tolower(substr($0, 1, i - 1)) == n) {
            v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v; exit
        }
    }'
}
median() { # FILE -> median of its numeric lines, or empty
    [ -s "$1" ] || return 0
    grep -v '^$' "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.6f", m
    }'
}
fmt() { # VALUE DECIMALS
    if [ -z "$1" ]; then printf 'FAIL'; else LC_ALL=C printf "%.${2}f" "$1"; fi
}
ratio() {
    if [ -z "$1" ] || [ -z "$2" ]; then printf -- '-'; else awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) printf "-"; else printf "%.2f", a / b }'; fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- servers
# stop_server NAME: SIGTERM to PID[NAME], SIGKILL after 5 s, then SIGKILL to
# the children it had (nginx's worker); forgets the PID.
stop_server() {
    local pid=${PID[$1]:-} kids
    [ -n "$pid" ] || return 0
    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    PID[$1]=
}
# bench_tmp PREFIX [NAME...]: the temp dir $T, the PID table, and an exit
# trap that stops every server in SERVERS and the NAMEs, then removes $T
# (kept with KEEP_TMP=1).
bench_tmp() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    shift
    EXTRA_SERVERS=("$@")
    declare -gA PID=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local s
    for s in "${SERVERS[@]}" "${EXTRA_SERVERS[@]}"; do stop_server "$s"; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
# The server's processes: the main one and its children (nginx's worker).
mem_kib() { # NAME FIELD(VmRSS|VmHWM) -> sum over its processes, KiB
    local total=0 p v
    for p in $(procs_of "$1"); do
        v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# ---------------------------------------------------------------- the table
# ferry, nginx and lighttpd side by side. Results are files
# $T/res/KEY.METRIC.NAME, one number a line; a cell is their median.
kib_to_mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.6f", k / 1024 }'; return 0; }

TABLE_FMT='%-2s %-34s %-6s %10s %10s %10s %8s %8s  %9s %9s %9s %s\n'
table_header() {
    # shellcheck disable=SC2059
    printf "$TABLE_FMT" '#' measurement unit ferry nginx lighttpd f/nginx f/lighty 'cpu ferry' 'cpu nginx' 'cpu lighty' 'cpu unit'
}
# table_row NUM LABEL UNIT KEY.METRIC DECIMALS [CPU_METRIC CPU_UNIT]
# METRICs ending in .hwm or .rss are KiB and shown in MiB.
table_row() {
    local num=$1 label=$2 unit=$3 metric=$4 dec=$5 cpum=${6:-} cpuu=${7:-} s
    local -A v=() c=()
    for s in ferry nginx lighttpd; do
        v[$s]=$(median "$T/res/$metric.$s")
        case $metric in *.hwm | *.rss) v[$s]=$(kib_to_mib "${v[$s]}") ;; esac
        c[$s]=-
        if [ -n "$cpum" ]; then
            c[$s]=$(median "$T/res/$cpum.$s")
            if [ -z "${c[$s]}" ]; then c[$s]=-; else c[$s]=$(fmt "${c[$s]}" 2); fi
        fi
    done
    # shellcheck disable=SC2059
    printf "$TABLE_FMT" "$num" "$label" "$unit" \
        "$(fmt "${v[ferry]}" "$dec")" "$(fmt "${v[nginx]}" "$dec")" "$(fmt "${v[lighttpd]}" "$dec")" \
        "$(ratio "${v[ferry]}" "${v[nginx]}")" "$(ratio "${v[ferry]}" "${v[lighttpd]}")" \
        "${c[ferry]}" "${c[nginx]}" "${c[lighttpd]}" "$cpuu"
}
