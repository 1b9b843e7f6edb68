#!/usr/bin/env bash
# Broken upstreams behind `ferry proxy` (tests/attack/faults.py: a raw-socket
# "application" and a client that frames the response strictly):
#  - a reset or a clean close mid-body, a Content-Length longer than the body,
#    a chunked body cut before its last chunk: the client sees an error status
#    or an aborted message, never a complete one with the wrong bytes;
#  - no answer: 504 within --upstream-timeout;
#  - an endless or oversized response head: 502;
#  - an X-Accel-Redirect hand-off whose file is truncated, replaced or deleted
#    while it is being sent: never sent with a wrong length.
# Each with response buffering on (the default) and off (--no-response-buffering).
#
#   bash tests/scripts/faults.sh
source "$(dirname "$0")/../lib/common.sh"
need python3 python3
FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
PY="$ROOT/tests/attack/faults.py"
UT=2 # --upstream-timeout

UPORT=$(free_port)
python3 "$PY" upstream "$UPORT" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $UPORT), timeout=1)" 2>/dev/null && break
  sleep 0.05
done
mkdir -p "$WORK/private"
aborted_or_5xx() {
  local s; s=$(kv status "$1")
  [ "$s" = 502 ] || [ "$s" = 0 ] || { [ "$s" = 200 ] && [ "$(kv complete "$1")" = 0 ]; }
}
half_sha=$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256)) * 4096).hexdigest())')

for mode in buffered streamed; do
  extra=()
  [ "$mode" = streamed ] && extra=(--no-response-buffering)
  start_ferry "$WORK/ferry-$mode.log" proxy --upstream "http://127.0.0.1:$UPORT" --no-access-log \
    --upstream-timeout "$UT" --accel "/protected/=$WORK/private" "${extra[@]}"
  U=$FERRY_URL
  echo "# ferry proxy, $mode responses"
  for p in reset short reset-chunked; do
    out=$(python3 "$PY" get "$U/$p")
    echo "#   /$p: $out"
    check "$mode: upstream /$p (cut mid-body): 502 or an aborted message, never a complete one" \
      aborted_or_5xx "$out"
  done
  out=$(python3 "$PY" get "$U/silent")
  echo "#   /silent: $out"
  check "$mode: an upstream that never answers: 504 within --upstream-timeout $UT s (took $(kv secs "$out") s)" \
    bash -c "[ '$(kv status "$out")' = 504 ] && awk -v t='$(kv secs "$out")' 'BEGIN { exit !(t < $UT + 1.5) }'"
  for p in endless oversized; do
    out=$(python3 "$PY" get "$U/$p")
    echo "#   /$p: $out"
    check "$mode: upstream /$p response head: 502 (took $(kv secs "$out") s)" [ "$(kv status "$out")" = 502 ]
  done
  check "$mode: ferry is still running" kill -0 "$FERRY_PID"

  # Hand-offs: 32 MiB read slowly, the file changed after the first MiB.
  for action in truncate replace delete; do
    f="$WORK/private/$action-$mode.bin"
    head -c $((32 << 20)) /dev/urandom >"$f"
    want=$(sha "$f")
    args=(--after $((1 << 20)) "$action" "$f")
    case $action in
    truncate) args+=($((2 << 20))) ;;
    replace) head -c $((4 << 20)) /dev/urandom >"$f.new"; args+=("$f.new") ;;
    esac
    out=$(python3 "$PY" get "$U/accel/$action-$mode.bin" "${args[@]}" --rcvbuf 65536)
    echo "#   X-Accel-Redirect, $action mid-send: $out"
    check "$mode: an X-Accel-Redirect file ${action}d mid-send: aborted if truncated, else whole as opened" \
      changed_as_promised "$out" "$action" "$want"
  done
  kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true
done
finish
