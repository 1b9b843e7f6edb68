#!/usr/bin/env bash
# `ferry serve --acme-domain` against Pebble, Let's Encrypt's test CA (Debian's
# `pebble` package): a certificate is issued and served over HTTP/2 and
# HTTP/1.1, cached with a 0600 key, served again from the cache with the CA
# gone, and a bad directory URL fails at start. Then with real validation (no
# PEBBLE_VA_ALWAYS_VALID; pebble-challtestsrv answers DNS with 127.0.0.1):
# TLS-ALPN-01 on the HTTPS listener and HTTP-01 on --redirect-http.
source "$(dirname "$0")/../lib/common.sh"
need curl
need openssl
need pebble

WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
# A copy, checked: a target directory shared with another checkout's builds
# may have had its binary replaced since.
for _ in 1 2 3; do
  cp "$(ferry_bin)" "$WORK/ferry"
  "$WORK/ferry" serve --help | grep -q -- --acme-domain && break
done
FERRY=$WORK/ferry
mkdir -p "$WORK/site"
printf 'hello over acme\n' >"$WORK/site/a.txt"

# Debian's package ships no test certificates: make Pebble's HTTPS identity
# (a "minica" root and a leaf for 127.0.0.1), as its upstream repository does.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=test minica" -keyout "$WORK/minica.key" -out "$WORK/minica.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$WORK/pebble.key" -out "$WORK/pebble.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/pebble.csr" -CA "$WORK/minica.pem" -CAkey "$WORK/minica.key" \
  -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/pebble.pem" 2>/dev/null

free_port() { # a loopback port nothing listens on and not handed out before
  local p
  touch "$WORK/ports"
  while :; do
    p=$((20000 + RANDOM % 40000))
    grep -qx "$p" "$WORK/ports" && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p" >>"$WORK/ports"
    echo "$p"
    return
  done
}

# start_pebble NAME HTTP_PORT TLS_PORT [ENV...]: sets PEBBLE_DIR, PEBBLE_MGMT, PEBBLE_PID.
start_pebble() {
  local name=$1 http=$2 tls=$3 port mgmt; shift 3
  port=$(free_port); mgmt=$(free_port)
  cat >"$WORK/$name.json" <<EOF
{ "pebble": { "listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$WORK/pebble.pem", "privateKey": "$WORK/pebble.key",
  "httpPort": $http, "tlsPort": $tls, "ocspResponderURL": "", "externalAccountBindingRequired": false } }
EOF
  env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 "$@" \
    pebble -config "$WORK/$name.json" ${DNS:+-dnsserver "$DNS"} >"$WORK/$name.log" 2>&1 &
  PEBBLE_PID=$!
  PIDS+=("$PEBBLE_PID")
  PEBBLE_DIR="https://127.0.0.1:$port/dir"
  PEBBLE_MGMT="https://127.0.0.1:$mgmt"
  for _ in $(seq 100); do
    curl -sf --cacert "$WORK/minica.pem" -o /dev/null "$PEBBLE_DIR" && return 0
    sleep 0.1
  done
  echo "pebble did not start:" >&2; cat "$WORK/$name.log" >&2; return 1
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# wait_for LOG TEXT: up to 30 s.
wait_for() {
  for _ in $(seq 300); do
    grep -q "$2" "$1" && return 0
    sleep 0.1
  done
  echo "not in $1: $2" >&2; cat "$1" >&2; return 1
}

fingerprint() { # HOST:PORT NAME
  openssl s_client -connect "$1" -servername "$2" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null || true
}

start_pebble pebble 5002 5001 PEBBLE_VA_ALWAYS_VALID=1
curl -sf --cacert "$WORK/minica.pem" "$PEBBLE_MGMT/roots/0" >"$WORK/root.pem"
check "Pebble's issuing root is served at /roots/0" grep -q 'BEGIN CERTIFICATE' "$WORK/root.pem"

ACME=(--acme-domain ferry.test --acme-directory "$PEBBLE_DIR" --acme-ca-root "$WORK/minica.pem"
  --acme-cache "$WORK/acme")
start_ferry "$WORK/ferry.log" serve "$WORK/site" "${ACME[@]}"
check "a certificate is issued" wait_for "$WORK/ferry.log" 'certificate for ferry.test obtained'
PORT=${FERRY_URL##*:}
C=(curl -s --resolve "ferry.test:$PORT:127.0.0.1" --cacert "$WORK/root.pem")
U="https://ferry.test:$PORT"
check "HTTPS: 200 with the bytes" [ "$("${C[@]}" "$U/a.txt")" = "hello over acme" ]
check "--http2: ALPN negotiates HTTP/2" [ "$("${C[@]}" --http2 -o /dev/null -w '%{http_version}' "$U/a.txt")" = 2 ]
check "--http2: 200 with the bytes" [ "$("${C[@]}" --http2 "$U/a.txt")" = "hello over acme" ]
check "--http1.1: ALPN negotiates HTTP/1.1" [ "$("${C[@]}" --http1.1 -o /dev/null -w '%{http_version}' "$U/a.txt")" = 1.1 ]
check "--http1.1: 200 with the bytes" [ "$("${C[@]}" --http1.1 "$U/a.txt")" = "hello over acme" ]
alpn() { openssl s_client -connect "127.0.0.1:$PORT" -servername ferry.test -alpn "$1" </dev/null 2>&1; }
check "a client offering h2 and acme-tls/1 gets h2" bash -c "$(declare -f alpn); PORT=$PORT; alpn h2,acme-tls/1 | grep -q 'ALPN protocol: h2'"
check "acme-tls/1 alone, no challenge pending: no certificate" bash -c "$(declare -f alpn); PORT=$PORT; ! alpn acme-tls/1 | grep -q 'BEGIN CERTIFICATE'"
CERTDIR=$(dirname "$(find "$WORK/acme" -name cert.pem | head -1)")
check "the cache holds the certificate" grep -q 'BEGIN CERTIFICATE' "$CERTDIR/cert.pem"
check "the cache holds the key, mode 600" [ "$(stat -c %a "$CERTDIR/key.pem")" = 600 ]
check "the cache directory is mode 700" [ "$(stat -c %a "$WORK/acme")" = 700 ]
check "the account is cached, mode 600" [ "$(stat -c %a "$(find "$WORK/acme" -name account.json | head -1)")" = 600 ]
FP=$(fingerprint "127.0.0.1:$PORT" ferry.test)
check "the served certificate is the cached one" \
  [ "$FP" = "$(openssl x509 -in "$CERTDIR/cert.pem" -noout -fingerprint -sha256)" ]

out=$("$FERRY" serve "$WORK/site" --acme-domain ferry.test --acme-directory "https://127.0.0.1:$PORT/nope" \
  --acme-ca-root "$WORK/minica.pem" --acme-cache "$WORK/acme-bad1" --listen 127.0.0.1:0 2>&1) && rc=0 || rc=$?
check "a URL that is not a directory: exit 2 naming it" \
  bash -c "[ $rc = 2 ] && grep -qF 'https://127.0.0.1:$PORT/nope' <<<'$out'"

for bad in 'not a url' 'http://127.0.0.1:1/dir'; do
  out=$("$FERRY" serve "$WORK/site" --acme-domain ferry.test --acme-directory "$bad" \
    --acme-cache "$WORK/acme-bad1" --listen 127.0.0.1:0 2>&1) && rc=0 || rc=$?
  check "--acme-directory '$bad': exit 2 naming it" bash -c "[ $rc = 2 ] && grep -qF '$bad' <<<'$out'"
done
check "check-config: a good ACME setup passes" bash -c "'$FERRY' check-config '$WORK/site' --acme-domain ferry.test \
  --acme-ca-root '$WORK/minica.pem' --acme-cache '$WORK/acme-check/sub' >/dev/null"
check "check-config: the cache directory is created 0700" [ "$(stat -c %a "$WORK/acme-check/sub")" = 700 ]
check "check-config: a --acme-ca-root that is not PEM fails" bash -c "! '$FERRY' check-config '$WORK/site' \
  --acme-domain ferry.test --acme-ca-root '$WORK/site/a.txt' --acme-cache '$WORK/acme-check' 2>/dev/null"
printf x >"$WORK/notadir"
check "check-config: a cache path that cannot be a directory fails" bash -c "! '$FERRY' check-config '$WORK/site' \
  --acme-domain ferry.test --acme-cache '$WORK/notadir/acme' 2>/dev/null"

stop "$FERRY_PID"
stop "$PEBBLE_PID"
start_ferry "$WORK/ferry2.log" serve "$WORK/site" "${ACME[@]}"
PORT=${FERRY_URL##*:}
C=(curl -s --resolve "ferry.test:$PORT:127.0.0.1" --cacert "$WORK/root.pem")
U="https://ferry.test:$PORT"
check "restart with Pebble stopped: the cached certificate is used" grep -q 'using the cached certificate' "$WORK/ferry2.log"
check "restart: the same certificate is served" [ "$(fingerprint "127.0.0.1:$PORT" ferry.test)" = "$FP" ]
check "restart: 200 over HTTP/2" [ "$("${C[@]}" --http2 "$U/a.txt")" = "hello over acme" ]
check "restart: 200 over HTTP/1.1" [ "$("${C[@]}" --http1.1 "$U/a.txt")" = "hello over acme" ]
stop "$FERRY_PID"

out=$(timeout 60 "$FERRY" serve "$WORK/site" "${ACME[@]:0:2}" --acme-directory "$PEBBLE_DIR" \
  --acme-ca-root "$WORK/minica.pem" --acme-cache "$WORK/acme-bad2" --listen 127.0.0.1:0 2>&1) && rc=0 || rc=$?
check "an unreachable directory: exit 2 naming the URL" bash -c "[ $rc = 2 ] && grep -qF '$PEBBLE_DIR' <<<'$out'"
echo "$out" | sed 's/^/  # /'

# Real validation: Pebble connects to ferry. pebble-challtestsrv is only its DNS
# server here (every name is 127.0.0.1); Pebble's tlsPort and httpPort are ferry's.
need pebble-challtestsrv pebble
DNSPORT=$(free_port)
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNSPORT" -http01 "" \
  -https01 "" -tlsalpn01 "" -management "127.0.0.1:$(free_port)" >"$WORK/challtestsrv.log" 2>&1 &
PIDS+=($!)
TLSPORT=$(free_port)
HTTPPORT=$(free_port)
DNS=127.0.0.1:$DNSPORT start_pebble pebble-va "$HTTPPORT" "$TLSPORT" PEBBLE_AUTHZREUSE=0
curl -sf --cacert "$WORK/minica.pem" "$PEBBLE_MGMT/roots/0" >"$WORK/root-va.pem"

"$FERRY" serve "$WORK/site" --acme-domain alpn.ferry.test --acme-directory "$PEBBLE_DIR" \
  --acme-ca-root "$WORK/minica.pem" --acme-cache "$WORK/acme-va" --listen "127.0.0.1:$TLSPORT" \
  2>"$WORK/ferry-alpn.log" &
FERRY_PID=$!
PIDS+=("$FERRY_PID")
check "TLS-ALPN-01: Pebble validates the challenge certificate, a certificate is issued" \
  wait_for "$WORK/ferry-alpn.log" 'certificate for alpn.ferry.test obtained'
check "TLS-ALPN-01 was the challenge" grep -q 'answering the tls-alpn-01 challenge for alpn.ferry.test' "$WORK/ferry-alpn.log"
check "TLS-ALPN-01: 200 with the issued certificate" [ "$(curl -s --resolve "alpn.ferry.test:$TLSPORT:127.0.0.1" \
  --cacert "$WORK/root-va.pem" "https://alpn.ferry.test:$TLSPORT/a.txt")" = "hello over acme" ]
stop "$FERRY_PID"

start_ferry "$WORK/ferry-http.log" serve "$WORK/site" --acme-domain http.ferry.test --acme-directory "$PEBBLE_DIR" \
  --acme-ca-root "$WORK/minica.pem" --acme-cache "$WORK/acme-va" --redirect-http "127.0.0.1:$HTTPPORT" --hsts max-age=60
PORT=${FERRY_URL##*:}
check "HTTP-01: Pebble fetches the token from --redirect-http, a certificate is issued" \
  wait_for "$WORK/ferry-http.log" 'certificate for http.ferry.test obtained'
check "HTTP-01 was the challenge" grep -q 'answering the http-01 challenge for http.ferry.test' "$WORK/ferry-http.log"
check "HTTP-01: 200 with the issued certificate and HSTS" bash -c "curl -s -D - --resolve 'http.ferry.test:$PORT:127.0.0.1' \
  --cacert '$WORK/root-va.pem' 'https://http.ferry.test:$PORT/a.txt' | grep -qi '^strict-transport-security: max-age=60'"
check "the plain listener still redirects other paths" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPPORT/a.txt")" = 308 ]
check "an unknown challenge token is not answered" \
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPPORT/.well-known/acme-challenge/nope")" = 308 ]
stop "$FERRY_PID"

# Nothing answers on Pebble's tlsPort: the order fails, ferry says why and keeps running.
start_ferry "$WORK/ferry-fail.log" serve "$WORK/site" --acme-domain fail.ferry.test --acme-directory "$PEBBLE_DIR" \
  --acme-ca-root "$WORK/minica.pem" --acme-cache "$WORK/acme-va"
check "a failed order: one line with the CA's problem" \
  wait_for "$WORK/ferry-fail.log" "^ferry: ACME: cannot obtain a certificate for fail.ferry.test from $PEBBLE_DIR: .*urn:ietf:params:acme:error:"
check "a failed order: ferry keeps running" kill -0 "$FERRY_PID"
grep 'cannot obtain' "$WORK/ferry-fail.log" | sed 's/^/  # /'

finish
