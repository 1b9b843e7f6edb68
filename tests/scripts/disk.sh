#!/usr/bin/env bash
# Disks and files that fail under ferry:
#  - `ferry precompress` on a full file system (a 1 MiB tmpfs; where mounting is
#    not permitted, a file-size limit, `ulimit -f`, with SIGXFSZ ignored) exits
#    non-zero, says why, and leaves no partial sibling or temp file behind;
#  - a file truncated, replaced or deleted while it is being sent is never sent
#    with a wrong length: over the HTTP/1.1 fast path (with and without the
#    open-file cache) and over HTTPS (HTTP/1.1 and HTTP/2); the `ferry proxy`
#    X-Accel-Redirect hand-off gets the same in tests/scripts/faults.sh.
#
#   bash tests/scripts/disk.sh
source "$(dirname "$0")/../lib/common.sh"
need python3 python3
need openssl
need curl
FERRY=$(ferry_bin)
WORK=$(mktemp -d)
MNT=
trap 'cleanup; [ -z "$MNT" ] || umount "$MNT" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PY="$ROOT/tests/attack/faults.py"

# --- precompress on a full disk. 700 KiB of text (base64: it compresses to
# about 3/4) on a 1 MiB file system: the first sibling cannot be written whole.
mkdir -p "$WORK/full"
python3 -c 'import base64, os, sys; sys.stdout.write(base64.encodebytes(os.urandom(525 * 1024)).decode())' \
  >"$WORK/text.txt"
how=
if mount -t tmpfs -o size=1m tmpfs "$WORK/full" 2>/dev/null; then
  MNT="$WORK/full"
  how="a full 1 MiB tmpfs"
  cp "$WORK/text.txt" "$WORK/full/app.js"
  set +e
  "$FERRY" precompress "$WORK/full" >"$WORK/pc.out" 2>"$WORK/pc.err"
  rc=$?
  set -e
  reason='space'
else
  how="ulimit -f 512 (mount not permitted)"
  cp "$WORK/text.txt" "$WORK/full/app.js"
  set +e
  (trap '' XFSZ; ulimit -f 512; exec "$FERRY" precompress "$WORK/full") >"$WORK/pc.out" 2>"$WORK/pc.err"
  rc=$?
  set -e
  reason='too large\|space'
fi
echo "# precompress on $how: exit $rc, stderr: $(head -c 300 "$WORK/pc.err")"
check "precompress on $how exits non-zero (exit $rc)" [ "$rc" -ne 0 ]
check "precompress on $how says why" grep -qi "$reason" "$WORK/pc.err"
check "precompress on $how leaves no partial sibling or temp file ($(ls -A "$WORK/full" | tr '\n' ' '))" \
  [ "$(ls -A "$WORK/full")" = app.js ]
check "precompress on $how leaves the original intact" cmp -s "$WORK/text.txt" "$WORK/full/app.js"
if [ -n "$MNT" ]; then umount "$MNT" && MNT=; fi

# --- Files that change mid-send. 16 MiB read slowly; after 1 MiB the file is
# truncated to 2 MiB, replaced by a 4 MiB one (rename over it), or deleted.
mkdir -p "$WORK/site"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
promise() { case $1 in truncate) echo "an aborted message" ;; *) echo "sent whole as opened" ;; esac; }
# changed PATH_LABEL URL_BASE [faults.py get options]: the three changes.
changed() {
  local label=$1 base=$2; shift 2
  for action in truncate replace delete; do
    local name="$action-$RANDOM.bin" f want args out
    f="$WORK/site/$name"
    head -c $((16 << 20)) /dev/urandom >"$f"
    want=$(sha "$f")
    args=(--after $((1 << 20)) "$action" "$f")
    case $action in
    truncate) args+=($((2 << 20))) ;;
    replace) head -c $((4 << 20)) /dev/urandom >"$WORK/new.bin"; args+=("$WORK/new.bin") ;;
    esac
    out=$(python3 "$PY" get "$base/$name" "${args[@]}" --rcvbuf 65536 "$@")
    echo "#   $label, $action mid-send: $out"
    check "$label: a file ${action}d mid-send: $(promise "$action")" changed_as_promised "$out" "$action" "$want"
  done
}
# changed_h2 URL_BASE: the same over HTTP/2 with curl (limited rate; the change
# after 1 s). curl exits 0 only for a complete message.
changed_h2() {
  local base=$1
  for action in truncate replace delete; do
    local name="h2-$action.bin" f want rc=0
    f="$WORK/site/$name"
    head -c $((16 << 20)) /dev/urandom >"$f"
    want=$(sha "$f")
    curl -sk --http2 --limit-rate 8M -o "$WORK/h2.out" "$base/$name" &
    local c=$!
    sleep 1
    case $action in
    truncate) truncate -s $((2 << 20)) "$f" ;;
    replace) head -c $((4 << 20)) /dev/urandom >"$WORK/new.bin"; mv "$WORK/new.bin" "$f" ;;
    delete) rm -f "$f" ;;
    esac
    wait "$c" || rc=$?
    echo "#   HTTPS HTTP/2, $action mid-send: curl exit $rc, $(stat -c %s "$WORK/h2.out") bytes"
    # curl exits 0 only for a complete message.
    if [ "$action" = truncate ]; then
      check "HTTPS HTTP/2: a file truncated mid-send: $(promise truncate) (curl exit $rc)" [ "$rc" -ne 0 ]
    else
      check "HTTPS HTTP/2: a file ${action}d mid-send: $(promise "$action") (curl exit $rc)" \
        bash -c "[ $rc = 0 ] && [ '$(sha "$WORK/h2.out")' = '$want' ]"
    fi
  done
}

start_ferry "$WORK/fast.log" serve "$WORK/site" --no-access-log
changed "fast path, file cache" "$FERRY_URL"
start_ferry "$WORK/nocache.log" serve "$WORK/site" --no-access-log --no-file-cache
changed "fast path, --no-file-cache" "$FERRY_URL"
start_ferry "$WORK/tls.log" serve "$WORK/site" --no-access-log --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
changed "HTTPS HTTP/1.1" "$FERRY_URL" --tls
changed_h2 "${FERRY_URL/http:/https:}"
# The proxy's X-Accel-Redirect hand-off: tests/scripts/faults.sh, the same three changes.
finish
