#!/usr/bin/env bash
# Real clients against `ferry serve`: curl resumes and multi-range requests,
# Python's http.client reading a multipart/byteranges response.
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3
need sha256sum coreutils

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site"
head -c 3000000 /dev/urandom >"$WORK/site/data.bin"
printf 'hello, ranges\n' >"$WORK/site/small.txt"
touch -d '2024-01-01 00:00:00' "$WORK/site/data.bin" "$WORK/site/small.txt"
start_ferry "$WORK/ferry.log" serve "$WORK/site"
want=$(sha256sum <"$WORK/site/data.bin" | cut -d' ' -f1)

# 1. curl -C - resumes a download cut at a random offset.
for i in 1 2 3; do
  cut=$(( (RANDOM * 32768 + RANDOM) % 3000000 ))
  head -c "$cut" "$WORK/site/data.bin" >"$WORK/partial.bin"
  curl -sS -C - -o "$WORK/partial.bin" "$FERRY_URL/data.bin"
  got=$(sha256sum <"$WORK/partial.bin" | cut -d' ' -f1)
  check "curl -C - resume at offset $cut is byte-identical" [ "$got" = "$want" ]
done
# Resuming a complete file: 416 is what curl expects, and it keeps the file.
cp "$WORK/site/data.bin" "$WORK/complete.bin"
curl -sS -C - -o "$WORK/complete.bin" "$FERRY_URL/data.bin" || true
check "curl -C - on a complete file leaves it intact" [ "$(sha256sum <"$WORK/complete.bin" | cut -d' ' -f1)" = "$want" ]

# 2. curl -r with one range and with several.
curl -sS -r 100-199 -o "$WORK/r1" "$FERRY_URL/data.bin"
check "curl -r 100-199 gives those 100 bytes" cmp "$WORK/r1" <(tail -c +101 "$WORK/site/data.bin" | head -c 100)
code=$(curl -sS -r 0-9,20-29,-5 -o "$WORK/multi" -D "$WORK/multi.h" -w '%{http_code}' "$FERRY_URL/data.bin")
check "curl -r with three ranges gets 206" [ "$code" = 206 ]
check "multi-range response is multipart/byteranges" grep -qi '^content-type: multipart/byteranges; boundary=' "$WORK/multi.h"

# 3. Python reads the multipart response with the standard library and checks each part.
check "python http.client + email parse every part" python3 - "$FERRY_URL" "$WORK/site/data.bin" <<'PY'
import email.parser, email.policy, http.client, sys, urllib.parse
url, path = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
conn = http.client.HTTPConnection(url.hostname, url.port)
conn.request("GET", "/data.bin", headers={"Range": "bytes=0-99,1000-1999,-10"})
resp = conn.getresponse()
assert resp.status == 206, resp.status
body = resp.read()
assert len(body) == int(resp.getheader("Content-Length"))
msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
    b"Content-Type: " + resp.getheader("Content-Type").encode() + b"\r\n\r\n" + body)
parts = list(msg.iter_parts())
assert len(parts) == 3, len(parts)
for part in parts:
    unit, rest = part["Content-Range"].split(" ")
    span, total = rest.split("/")
    first, last = map(int, span.split("-"))
    assert unit == "bytes" and int(total) == len(data)
    assert part.get_payload(decode=True) == data[first:last + 1], part["Content-Range"]
# Keep-alive: a second request on the same connection.
conn.request("GET", "/small.txt")
r2 = conn.getresponse()
assert r2.read() == b"hello, ranges\n"
PY

# 4. Revalidation as a browser does it.
etag=$(curl -sS -D - -o /dev/null "$FERRY_URL/small.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$FERRY_URL/small.txt")
check "If-None-Match with the ETag gets 304" [ "$code" = 304 ]
code=$(curl -sS -o /dev/null -w '%{http_code}' -z "$WORK/site/small.txt" "$FERRY_URL/small.txt")
check "curl -z (If-Modified-Since) gets 304" [ "$code" = 304 ]

finish
