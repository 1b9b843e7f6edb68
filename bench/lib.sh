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

# nginx_conf T SERVER: nginx.conf under T/nginx (one worker, sendfile, ETags,
# no access log, long keep-alive, no types table, temp files under T), listening
# on PORT_nginx with SERVER (the directives inside its `server` block).
nginx_conf() {
    local T=$1 server=$2 user=
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
        listen 127.0.0.1:$PORT_nginx;
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
