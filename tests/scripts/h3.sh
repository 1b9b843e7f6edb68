#!/usr/bin/env bash
# HTTP/3 with real peers. 1) Headless Chromium (Debian's, driven with selenium as
# in browser.sh) loads a page from `ferry serve --tls-cert` forced onto QUIC
# (--origin-to-force-quic-on, the self-signed key trusted by its SPKI hash):
# ferry's access log must show HTTP/3.0, and a reload revalidated with 304.
# 2) Interop: the same requests from bench/h3client (the tests' quinn + h3
# client, built as ferry-cli's example) against Caddy (Debian's; HTTP/3 on by
# default) and against ferry, so a client bug cannot pass for a ferry bug:
# 200 with an ETag, 304 for If-None-Match, 206 for a Range, and Alt-Svc
# advertising h3 on the HTTPS port. 3) Socket activation: a UDP socket passed
# by "systemd" (ListenDatagram=) beside the TCP one carries HTTP/3.
source "$(dirname "$0")/../lib/common.sh"
need openssl openssl
need caddy caddy
need curl curl

need_chromium

FERRY=$(ferry_bin)
cargo build -q -p ferry-cli --example h3client >&2
H3=$CARGO_TARGET_DIR/debug/examples/h3client
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT

# A test CA and a certificate for localhost it signs (webpki refuses a CA
# certificate as a server's own), and the key's SPKI hash for Chromium.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=ferry-h3-test-ca -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  >"$WORK/leaf.ext"
openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/leaf.ext" -out "$WORK/cert.pem" 2>/dev/null
SPKI=$(openssl x509 -in "$WORK/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)

mkdir -p "$WORK/site"
cat >"$WORK/site/index.html" <<'HTML'
<!doctype html><html><head><title>ferry over h3</title><link rel="stylesheet" href="style.css"></head>
<body><p id="p">Hello over HTTP/3.</p></body></html>
HTML
printf 'p { color: green }\n' >"$WORK/site/style.css"
printf 'Hello from the interop check.\n' >"$WORK/site/readme.txt"
touch -d '2025-03-01 12:00:00' "$WORK/site/"*

start_ferry "$WORK/ferry.log" serve "$WORK/site" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
  --access-log-format combined
PORT=${FERRY_URL##*:}
check "ferry announces HTTP/3 on UDP $PORT" grep -q "HTTP/3 (QUIC) on UDP 127.0.0.1:$PORT" "$WORK/ferry.log"

check "chromium over HTTP/3: page and stylesheet, reload answered 304" \
  timeout 90 "$VENV/bin/python" - "$PORT" "$SPKI" "$WORK/ferry.log" <<'PY'
import sys, time
from chromium import driver

port, spki, log = sys.argv[1], sys.argv[2], sys.argv[3]
drv = driver("--enable-quic",
             # ferry listens on 127.0.0.1; Chromium would try ::1 first.
             "--host-resolver-rules=MAP localhost 127.0.0.1",
             f"--origin-to-force-quic-on=localhost:{port}",
             f"--ignore-certificate-errors-spki-list={spki}")
try:
    drv.get(f"https://localhost:{port}/index.html")
    assert "ferry over h3" in drv.title, drv.page_source[:300]
    proto = drv.execute_script(
        "return performance.getEntriesByType('navigation')[0].nextHopProtocol")
    print("nextHopProtocol:", proto)
    assert proto == "h3", proto
    time.sleep(1.2)
    drv.refresh()
    assert "ferry over h3" in drv.title
    time.sleep(0.5)
finally:
    drv.quit()
lines = [l for l in open(log) if '"GET /index.html HTTP/3.0"' in l]
print("\n".join(lines))
assert len(lines) >= 2, lines
assert '" 200 ' in lines[0] and '" 304 ' in lines[-1], lines
assert any('"GET /style.css HTTP/3.0" 200' in l for l in open(log))
PY

# get_checks NAME PORT: the interop requests over HTTP/3 and Alt-Svc over TCP.
get_checks() {
  local name=$1 port=$2 url="https://localhost:$2/readme.txt" etag
  if ! "$H3" get "$url" --ca "$WORK/ca.pem" --out "$WORK/$name.body" >"$WORK/$name.head" 2>&1; then
    fail "$name: h3client GET"; cat "$WORK/$name.head"; return
  fi
  check "$name: GET over HTTP/3 is 200 with the file" \
    bash -c "grep -qx 'HTTP/3 200' '$WORK/$name.head' && cmp -s '$WORK/$name.body' '$WORK/site/readme.txt'"
  etag=$(grep -i '^etag: ' "$WORK/$name.head" | cut -d' ' -f2- | tr -d '\r')
  check "$name: has an ETag" [ -n "$etag" ]
  check "$name: If-None-Match over HTTP/3 is 304" \
    bash -c "'$H3' get '$url' --ca '$WORK/ca.pem' -H 'if-none-match: $etag' | grep -qx 'HTTP/3 304'"
  check "$name: Range over HTTP/3 is 206 with 5 bytes" \
    bash -c "'$H3' get '$url' --ca '$WORK/ca.pem' -H 'range: bytes=0-4' | tr '\n' ' ' | grep -q 'HTTP/3 206 .*body-bytes 5 '"
  check "$name: HTTPS over TCP advertises h3 on port $port" \
    bash -c "curl -sS -o /dev/null -D - --cacert '$WORK/ca.pem' '$url' | grep -qi '^alt-svc: .*h3=\":$port\"'"
}

CPORT=$(free_port)
cat >"$WORK/Caddyfile" <<EOF
{
	admin off
	auto_https off
	http_port $(free_port)
}
https://localhost:$CPORT {
	tls $WORK/cert.pem $WORK/key.pem
	root * $WORK/site
	file_server
}
EOF
HOME=$WORK XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config \
  caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$WORK/ca.pem" "https://localhost:$CPORT/" && break
  sleep 0.1
done
get_checks caddy "$CPORT"
get_checks ferry "$PORT"
check "ferry: the interop requests were logged as HTTP/3.0" \
  bash -c "[ \$(grep -c '\"GET /readme.txt HTTP/3.0\" \(200\|304\|206\)' '$WORK/ferry.log') -ge 3 ]"

# 3) systemd socket activation: the TCP socket as fd 3, a UDP one (ListenDatagram=)
# on another port as fd 4; ferry must serve HTTP/3 on the passed UDP socket and
# advertise its port.
"$(command -v python3)" - "$FERRY" "$WORK" <<'PY' &
import os, socket, sys
ferry, work = sys.argv[1:3]
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(128)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
for fd, s in ((3, t), (4, u)):
    if s.fileno() != fd:
        os.dup2(s.fileno(), fd)
    os.set_inheritable(fd, True)
open(work + "/ports.tmp", "w").write(f"{t.getsockname()[1]} {u.getsockname()[1]}\n")
os.rename(work + "/ports.tmp", work + "/ports")
env = dict(os.environ, LISTEN_FDS="2", LISTEN_PID=str(os.getpid()))
os.execve(ferry, [ferry, "serve", work + "/site", "--listen", "127.0.0.1:1",
                  "--tls-cert", work + "/cert.pem", "--tls-key", work + "/key.pem"], env)
PY
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/ports" ] && break; sleep 0.05; done
read -r TPORT UPORT <"$WORK/ports"
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$WORK/ca.pem" "https://localhost:$TPORT/" && break
  sleep 0.05
done
check "socket activation: Alt-Svc names the passed UDP socket's port" \
  bash -c "curl -sS -o /dev/null -D - --cacert '$WORK/ca.pem' 'https://localhost:$TPORT/readme.txt' | grep -qi '^alt-svc: h3=\":$UPORT\"'"
check "socket activation: HTTP/3 answers on the passed UDP socket" \
  bash -c "'$H3' get 'https://localhost:$UPORT/readme.txt' --ca '$WORK/ca.pem' | grep -qx 'HTTP/3 200'"
finish
