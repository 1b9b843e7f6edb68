#!/usr/bin/env bash
# `ferry serve az://…` against Azurite, the Azure Storage emulator (npm, into
# a cache directory), on 127.0.0.1 with a free port, stopped by PID. Creates a
# container (Microsoft's azure-storage-blob from pip, in the test virtualenv),
# runs the store conformance suite against it, then checks the served
# container with curl: GET, 304, a range, and a disk cache that answers while
# Azurite is down (within --stale-if-error).
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3
need npm npm

AZURITE_DIR="${FERRY_TEST_AZURITE:-$CARGO_TARGET_DIR/azurite}"
AZURITE="$AZURITE_DIR/node_modules/.bin/azurite-blob"
if [ ! -x "$AZURITE" ]; then
  mkdir -p "$AZURITE_DIR"
  (cd "$AZURITE_DIR" && npm install --silent --no-audit --no-fund 'azurite@3' >/dev/null 2>&1) || true
fi
[ -x "$AZURITE" ] || { echo "azurite is not installed (npm install azurite failed)" >&2; exit 1; }
VENV="${FERRY_TEST_VENV:-$CARGO_TARGET_DIR/test-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import azure.storage.blob' 2>/dev/null; then
  "$VENV/bin/pip" install -q 'azure-storage-blob>=12,<13'
fi
"$VENV/bin/python" -c 'import azure.storage.blob' || { echo "azure-storage-blob is not installed" >&2; exit 1; }

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
PORT=$(free_port)
# --skipApiVersionCheck: the emulator accepts the API version object_store sends.
"$AZURITE" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$WORK/azurite" \
  --skipApiVersionCheck --loose --silent >"$WORK/azurite.log" 2>&1 &
AZURITE_PID=$!
PIDS+=($AZURITE_PID)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done

# The emulator's well-known development account (public, in Microsoft's docs).
export AZURE_STORAGE_USE_EMULATOR=true AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$PORT"
export FERRY_TEST_AZURE_CONTAINER=ferry-test
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
"$VENV/bin/python" - <<PY
from azure.storage.blob import BlobServiceClient
conn = ("DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;"
        "BlobEndpoint=http://127.0.0.1:$PORT/$ACCOUNT;")
BlobServiceClient.from_connection_string(conn).create_container("ferry-test")
PY

# The conformance suite fills az://ferry-test/site with its fixture and checks
# it, directly and through a disk cache.
check "store conformance suite against Azurite" \
  cargo test -q -p ferry --all-features --test conformance -- azure_blob_storage_conforms --nocapture

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
start_ferry "$WORK/ferry.log" serve az://ferry-test/site
U=$FERRY_URL
check "200 with the blob's bytes" [ "$(curl -s "$U/a.txt")" = "hello, conformance" ]
etag=$(curl -sI "$U/a.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')
check "304 by ETag" [ "$(code -H "If-None-Match: $etag" "$U/a.txt")" = 304 ]
check "206 single range" [ "$(curl -s -r 0-4 "$U/a.txt")" = hello ]
check "416 past the end" [ "$(code -r 9999- "$U/a.txt")" = 416 ]
check "missing blob 404" [ "$(code "$U/missing.txt")" = 404 ]
check "index blob for a prefix" [ "$(curl -s "$U/docs/")" = "<h1>docs</h1>" ]
kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true

# With a disk cache: the same answers, then Azurite goes away.
start_ferry "$WORK/ferry-cache.log" serve az://ferry-test/site --cache-dir "$WORK/cache" \
  --metadata-ttl 1 --stale-if-error 5 --store-timeout 2
U=$FERRY_URL
check "cached: 200" [ "$(curl -s "$U/a.txt")" = "hello, conformance" ]
check "cached: the same ETag as without a cache" \
  [ "$(curl -sI "$U/a.txt" | tr -d '\r' | sed -n 's/^etag: //Ip')" = "$etag" ]
check "cached: 206 from disk" [ "$(curl -s -r 0-4 "$U/a.txt")" = hello ]
check "cached: a file in --cache-dir" [ "$(find "$WORK/cache" -type f ! -name '.*' | wc -l)" -ge 1 ]
# SIGKILL: gone at once, whatever node's orderly exit takes. The grace (5 s)
# leaves a slow runner room: the copy is stale from ~1 s after its last check
# and the request below comes ~1.5 s after the kill. With 3 s, one CI run on
# a loaded VM got no stale answer here, though it never failed on its own.
kill -KILL "$AZURITE_PID"; wait "$AZURITE_PID" 2>/dev/null || true
sleep 1.5
check "Azurite down, copy stale within the grace: 200" [ "$(curl -s "$U/a.txt")" = "hello, conformance" ]
check "the stale answer is logged" grep -q "stale-if-error" "$WORK/ferry-cache.log"
sleep 5
check "past the grace: 502" [ "$(code "$U/a.txt")" = 502 ]
finish
