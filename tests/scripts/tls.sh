#!/usr/bin/env bash
# `ferry serve` over HTTPS: curl with --http2 and --http1.1 against the same
# behaviour table (200, HEAD, 304, 206, 416, 405, variants), ALPN, a certificate
# reload on SIGHUP without dropping a download in progress, and the plain
# listener that redirects to HTTPS.
source "$(dirname "$0")/../lib/common.sh"
need curl
need openssl

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site"
printf 'hello over tls\n' >"$WORK/site/a.txt"
printf 'body { color: red }\n' >"$WORK/site/app.css"
printf 'gzipped' >"$WORK/site/app.css.gz"
head -c 50000000 /dev/urandom >"$WORK/site/big.bin"

cert() { # NAME CN: a self-signed certificate for localhost and 127.0.0.1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/$1.key" -out "$WORK/$1.pem" 2>/dev/null
}
cert one ferry-one
cert two ferry-two
cp "$WORK/one.pem" "$WORK/live.pem"
cp "$WORK/one.key" "$WORK/live.key"
# Both certificates in one bundle, so curl trusts the server across the reload.
cat "$WORK/one.pem" "$WORK/two.pem" >"$WORK/ca.pem"

start_ferry "$WORK/ferry.log" serve "$WORK/site" --tls-cert "$WORK/live.pem" --tls-key "$WORK/live.key" \
  --hsts max-age=300 --redirect-http 127.0.0.1:0
U=${FERRY_URL/http:/https:}
U=${U/127.0.0.1/localhost}
C=(curl -s --cacert "$WORK/ca.pem")

for v in --http2 --http1.1; do
  want=2; [ "$v" = --http1.1 ] && want=1.1
  check "$v: ALPN negotiates HTTP/$want" [ "$("${C[@]}" "$v" -o /dev/null -w '%{http_version}' "$U/a.txt")" = "$want" ]
  check "$v: 200 with the bytes" [ "$("${C[@]}" "$v" "$U/a.txt")" = "hello over tls" ]
  check "$v: HSTS is sent" bash -c "$(printf '%q ' "${C[@]}") $v -D - -o /dev/null '$U/a.txt' | grep -qi '^strict-transport-security: max-age=300'"
  # -X HEAD (not -I) makes curl read whatever body arrives; over HTTP/1.1 it then
  # waits for the promised length until --max-time.
  "${C[@]}" "$v" -X HEAD --max-time 2 -o "$WORK/head.out" "$U/a.txt" || true
  check "$v: HEAD has no body" [ ! -s "$WORK/head.out" ]
  etag=$("${C[@]}" "$v" -I "$U/a.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')
  check "$v: 304 by ETag" [ "$("${C[@]}" "$v" -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/a.txt")" = 304 ]
  check "$v: 206 range" [ "$("${C[@]}" "$v" -r 0-4 "$U/a.txt")" = hello ]
  check "$v: 416" [ "$("${C[@]}" "$v" -o /dev/null -w '%{http_code}' -r 999- "$U/a.txt")" = 416 ]
  check "$v: 405 for POST" [ "$("${C[@]}" "$v" -o /dev/null -w '%{http_code}' -X POST "$U/a.txt")" = 405 ]
  check "$v: precompressed variant" bash -c "$(printf '%q ' "${C[@]}") $v -H 'Accept-Encoding: gzip' -D - -o /dev/null '$U/app.css' | grep -qi '^content-encoding: gzip'"
  check "$v: 404" [ "$("${C[@]}" "$v" -o /dev/null -w '%{http_code}' "$U/missing")" = 404 ]
done

serial() { echo | openssl s_client -connect "${FERRY_URL#*://}" -servername localhost 2>/dev/null | openssl x509 -noout -subject; }
export -f serial; export FERRY_URL
check "serves the first certificate" bash -c '[[ "$(serial)" == *ferry-one* ]]'
# A download in progress across the reload.
"${C[@]}" --http1.1 --limit-rate 20M -o "$WORK/got.bin" "$U/big.bin" &
DL=$!
sleep 0.5
cp "$WORK/two.pem" "$WORK/live.pem"
cp "$WORK/two.key" "$WORK/live.key"
kill -HUP "$FERRY_PID"
sleep 0.5
check "after SIGHUP, new connections get the new certificate" bash -c '[[ "$(serial)" == *ferry-two* ]]'
wait "$DL"
check "the download in progress finished intact" cmp -s "$WORK/got.bin" "$WORK/site/big.bin"
printf 'not a certificate' >"$WORK/live.pem"
kill -HUP "$FERRY_PID"
sleep 0.3
check "a bad certificate is refused and the old one kept" bash -c '[[ "$(serial)" == *ferry-two* ]]'

PLAIN=$(grep -o 'redirecting http://[0-9.:]*' "$WORK/ferry.log" | sed 's/redirecting //')
check "the plain listener redirects to HTTPS with 308" bash -c \
  "curl -s -D - -o /dev/null '$PLAIN/a.txt?x=1' | tr -d '\r' | grep -q '^location: https://127.0.0.1:${FERRY_URL##*:}/a.txt?x=1'"

# h2c with prior knowledge, plaintext, the same behaviour table's core.
start_ferry "$WORK/ferry-h2c.log" serve "$WORK/site" --h2c --max-header-bytes 16384
H=$FERRY_URL
check "h2c: prior knowledge speaks HTTP/2" [ "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version}' "$H/a.txt")" = 2 ]
check "h2c: HTTP/1.1 still served" [ "$(curl -s --http1.1 "$H/a.txt")" = "hello over tls" ]
check "h2c: 304 over h2" [ "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H "If-None-Match: $(curl -sI "$H/a.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')" "$H/a.txt")" = 304 ]
check "h2c: 206 over h2" [ "$(curl -s --http2-prior-knowledge -r 0-4 "$H/a.txt")" = hello ]
BIG=$(head -c 40000 /dev/zero | tr '\0' a)
check "h2c port, HTTP/1.1: a head over --max-header-bytes is 431" \
  [ "$(curl -s --http1.1 -o /dev/null -w '%{http_code}' -H "X-Big: $BIG" "$H/a.txt")" = 431 ]
check "h2: a header list over --max-header-bytes is refused" \
  bash -c "! curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H 'X-Big: $BIG' '$H/a.txt' | grep -q 200"
check "TLS HTTP/1.1: a head over --max-header-bytes is 431" \
  [ "$("${C[@]}" --http1.1 -o /dev/null -w '%{http_code}' -H "X-Big: $BIG" "$U/a.txt")" = 431 ]
finish
