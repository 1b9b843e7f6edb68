#!/usr/bin/env bash
# `ferry serve s3://…` against a real S3-compatible server: moto's standalone
# server (pip, in the test virtualenv), on 127.0.0.1 with a free port, stopped by
# PID. Runs the store conformance suite against it, then checks the served
# bucket with curl as a user would.
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3

VENV="${FERRY_TEST_VENV:-$CARGO_TARGET_DIR/test-venv}"
if ! "$VENV/bin/python" -c 'import moto.server' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'moto[server]>=5,<6'
fi
"$VENV/bin/python" -c 'import moto.server' || { echo "moto is not installed" >&2; exit 1; }

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export FERRY_TEST_S3_BUCKET=ferry-test
curl -sf -X PUT "$AWS_ENDPOINT_URL/ferry-test" >/dev/null

# The conformance suite fills s3://ferry-test/site with its fixture and checks it.
check "store conformance suite against moto" \
  cargo test -q -p ferry --all-features --test conformance -- s3_compatible_server_conforms --nocapture

start_ferry "$WORK/ferry.log" serve s3://ferry-test/site
U=$FERRY_URL
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "200 with the object's bytes" [ "$(curl -s "$U/a.txt")" = "hello, conformance" ]
check "HEAD is 200 with no body" bash -c "[ \"\$(curl -sI '$U/a.txt' | head -1 | cut -d' ' -f2)\" = 200 ] && [ -z \"\$(curl -s -X HEAD --max-time 2 '$U/a.txt' 2>/dev/null)\" ]"
etag=$(curl -sI "$U/a.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')
lm=$(curl -sI "$U/a.txt" | tr -d '\r' | sed -n 's/^last-modified: //Ip')
check "304 by ETag" [ "$(code -H "If-None-Match: $etag" "$U/a.txt")" = 304 ]
check "304 by date" [ "$(code -H "If-Modified-Since: $lm" "$U/a.txt")" = 304 ]
check "412 for a stale If-Match" [ "$(code -H 'If-Match: "stale"' "$U/a.txt")" = 412 ]
check "206 single range" [ "$(curl -s -r 0-4 "$U/a.txt")" = hello ]
check "206 multipart" bash -c "curl -s -D - -o /dev/null -r 0-0,2-2 '$U/a.txt' | grep -qi '^content-type: multipart/byteranges'"
check "416 past the end" [ "$(code -r 9999- "$U/a.txt")" = 416 ]
check "precompressed variant" bash -c "curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' '$U/app.css' | grep -qi '^content-encoding: gzip'"
check "missing key 404" [ "$(code "$U/missing.txt")" = 404 ]
check "directory prefix redirects" [ "$(code "$U/docs")" = 308 ]
check "index object for a prefix" [ "$(curl -s "$U/docs/")" = "<h1>docs</h1>" ]
for p in '/../a.txt' '/%2e%2e/site/a.txt' '/docs/..%2Fa.txt' '/.env' '/a.txt%00'; do
  check "hostile key $p is 400/404" bash -c "c=\$(curl -s --path-as-is -o /dev/null -w '%{http_code}' '$U$p'); [ \"\$c\" = 400 ] || [ \"\$c\" = 404 ]"
done
# A GiB object streams through with flat memory.
truncate -s 1G "$WORK/big.bin"
curl -sf -T "$WORK/big.bin" "$AWS_ENDPOINT_URL/ferry-test/site/big.bin" >/dev/null
want=$(sha256sum <"$WORK/big.bin" | cut -d' ' -f1)
rm -f "$WORK/big.bin"
check "a 1 GiB object arrives byte-exact" \
  [ "$(curl -s "$U/big.bin" | sha256sum | cut -d' ' -f1)" = "$want" ]
peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$FERRY_PID/status")
echo "ferry's peak RSS while streaming 1 GiB: ${peak} MiB"
check "ferry's memory stays flat (peak RSS ${peak} MiB < 64 MiB)" [ "$peak" -lt 64 ]
# A client that goes away mid-object: ferry cancels, keeps serving.
curl -s --max-time 1 --limit-rate 1M -o /dev/null "$U/big.bin" || true
check "still serving after a client left mid-object" [ "$(code "$U/a.txt")" = 200 ]


# The disk cache, counted at the store: moto logs every request it serves.
# (Its lines are coloured by status: the colours go first.)
store_count() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/moto.log" | grep -c "\"$1 /ferry-test/site/$2 " || true; }
# Signed requests (moto refuses anonymous ones to an existing object): boto3,
# which moto brings along, configured by the same AWS_* variables.
s3put() { "$VENV/bin/python" -c 'import boto3,sys; boto3.client("s3").put_object(Bucket="ferry-test", Key=sys.argv[1], Body=sys.argv[2].encode())' "$@"; }
s3etag() { "$VENV/bin/python" -c 'import boto3,sys; print(boto3.client("s3").head_object(Bucket="ferry-test", Key=sys.argv[1])["ETag"])' "$@"; }
s3put site/cold.txt $'cold object\n'
MPORT=$(free_port)
start_ferry "$WORK/ferry-cache.log" serve s3://ferry-test/site --cache-dir "$WORK/cache" \
  --metadata-ttl 10 --metrics "127.0.0.1:$MPORT"
U=$FERRY_URL
seq 50 | xargs -P 50 -I{} curl -s -o "$WORK/cold.{}" "$U/cold.txt"
check "50 concurrent cold GETs, all whole" bash -c "cat '$WORK'/cold.* | grep -c '^cold object\$' | grep -qx 50"
check "a cold miss costs one store GET and no HEAD (coalesced)" \
  [ "$(store_count GET cold.txt)/$(store_count HEAD cold.txt)" = 1/0 ]
cetag=$(curl -sI "$U/cold.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')
check "warm 304" [ "$(code -H "If-None-Match: $cetag" "$U/cold.txt")" = 304 ]
check "warm 206 from disk" [ "$(curl -s -r 0-3 "$U/cold.txt")" = cold ]
check "warm answers cost the store nothing" [ "$(store_count GET cold.txt)" = 1 ]
check "the cached ETag is the object's own" \
  [ "$cetag" = "$(s3etag site/cold.txt)" ]
metrics=$(curl -s "http://127.0.0.1:$MPORT/metrics")
check "metrics: cache hits and one miss" bash -c "grep -q '^ferry_cache_misses_total 1\$' <<<'$metrics' && grep -Eq '^ferry_cache_hits_total [1-9]' <<<'$metrics' && grep -Eq '^ferry_cache_bytes [1-9]' <<<'$metrics'"
kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true
start_ferry "$WORK/ferry-cache2.log" serve s3://ferry-test/site --cache-dir "$WORK/cache" --metadata-ttl 10
U=$FERRY_URL
check "after a restart: served from the cache" \
  [ "$(curl -s "$U/cold.txt")/$(store_count GET cold.txt)" = "cold object/1" ]
s3put site/cold.txt $'replaced, and longer\n'
check "replaced in the bucket: the cached copy within the TTL" [ "$(curl -s "$U/cold.txt")" = "cold object" ]
sleep 10.2
check "after the TTL: the new object, whole" [ "$(curl -s "$U/cold.txt")" = "replaced, and longer" ]
check "revalidated with one conditional GET" [ "$(store_count GET cold.txt)" = 2 ]
kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true

check "a missing bucket is a start-up error (exit 2)" bash -c \
  "'$FERRY' serve s3://no-such-bucket --listen 127.0.0.1:0 >/dev/null 2>&1; [ \$? = 2 ]"
# The same bucket, configured by flags instead of the environment.
EP=$AWS_ENDPOINT_URL
unset AWS_ENDPOINT_URL AWS_ALLOW_HTTP AWS_REGION
start_ferry "$WORK/ferry-flags.log" serve s3://ferry-test/site --s3-endpoint "$EP" \
  --s3-region us-east-1 --s3-allow-http
check "configured by flags" [ "$(curl -s "$FERRY_URL/a.txt")" = "hello, conformance" ]
check "an unreachable endpoint is a start-up error (exit 2)" bash -c \
  "'$FERRY' serve s3://ferry-test --s3-endpoint http://127.0.0.1:9 --s3-allow-http --store-timeout 2 --listen 127.0.0.1:0 >/dev/null 2>&1; [ \$? = 2 ]"
finish
