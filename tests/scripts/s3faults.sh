#!/usr/bin/env bash
# Failing object storage: `ferry serve s3://…` against moto through a
# fault-injecting proxy (tests/attack/s3faults.py), --store-timeout 2:
#  - 500 twice, then fine: retried, the client gets the exact bytes;
#  - 503 for ever: a bounded number of store requests, then an error status;
#  - a reset mid-body, a stall before the head, a stall mid-body, the object
#    replaced between the metadata (HEAD) and the body (GET): an error status or
#    an aborted message within the timeout's bounds, never a mixed or silently
#    truncated body;
#  - a 16 MiB object read by a slow client for longer than --store-timeout
#    arrives whole: the timeout bounds answers and stalls, not a flowing body.
#
#   bash tests/scripts/s3faults.sh
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
ST=2 # --store-timeout
MPORT=$(free_port)
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$MPORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/" && break; sleep 0.05; done
FPORT=$(free_port)
"$VENV/bin/python" "$ROOT/tests/attack/s3faults.py" "$FPORT" "$MPORT" "$WORK/count" >"$WORK/faults.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FPORT/" && break; sleep 0.05; done

M="http://127.0.0.1:$MPORT"
curl -sf -X PUT "$M/bucket" >/dev/null
for key in ok flaky500 always503 reset stall stallbody changed; do
  head -c $((1 << 20)) /dev/urandom >"$WORK/$key.bin"
  curl -sf -T "$WORK/$key.bin" "$M/bucket/site/$key.bin" >/dev/null
done

export AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
start_ferry "$WORK/ferry.log" serve s3://bucket/site --s3-endpoint "http://127.0.0.1:$FPORT" \
  --store-timeout "$ST" --no-access-log
U=$FERRY_URL
PY="$ROOT/tests/attack/faults.py"
requests_for() { grep -c "/$1.bin" "$WORK/count" || true; }
# not_wrong OUT KEY: an error status, or KEY's bytes: all of them in a complete
# message, the first `got` of them in an aborted one (never a mix of versions).
not_wrong() {
  case $(kv status "$1") in 0 | '') return 1 ;; 200) ;; *) return 0 ;; esac
  [ "$(kv sha "$1")" = "$(head -c "$(kv got "$1")" "$WORK/$2.bin" | sha256sum | cut -d' ' -f1)" ] || return 1
  [ "$(kv complete "$1")" = 0 ] || [ "$(kv got "$1")" = "$(stat -c %s "$WORK/$2.bin")" ]
}

out=$(python3 "$PY" get "$U/ok.bin"); echo "# ok: $out"
check "no fault: the exact bytes" [ "$(kv sha "$out")" = "$(sha "$WORK/ok.bin")" ]

out=$(python3 "$PY" get "$U/flaky500.bin"); echo "# 500 twice: $out; store saw $(requests_for flaky500) requests"
check "500 twice, then fine: retried, the exact bytes" [ "$(kv sha "$out")" = "$(sha "$WORK/flaky500.bin")" ]

out=$(python3 "$PY" get "$U/always503.bin"); n=$(requests_for always503)
echo "# 503 for ever: $out; store saw $n requests"
check "503 for ever: 502 ($(kv status "$out"))" [ "$(kv status "$out")" = 502 ]
check "503 for ever: retries are bounded ($n store requests, at most 3)" [ "$n" -le 3 ]
check "503 for ever: answered within --store-timeout's bound ($(kv secs "$out") s < $((2 * ST + 2)))" \
  below "$(kv secs "$out")" $((2 * ST + 2))

for key in reset stall stallbody changed; do
  out=$(python3 "$PY" get "$U/$key.bin"); echo "# $key: $out; store saw $(requests_for "$key") requests"
  check "$key: an error status or an aborted message, never wrong bytes" not_wrong "$out" "$key"
  check "$key: over within --store-timeout's bound ($(kv secs "$out") s < $((3 * ST + 3)))" \
    below "$(kv secs "$out")" $((3 * ST + 3))
done
# A big object to a slow client: the transfer outlasts --store-timeout, but the
# store never stalls, so it must arrive whole (an overall request timeout at
# the store cut it off mid-body).
head -c $((16 << 20)) /dev/urandom >"$WORK/big.bin"
curl -sf -T "$WORK/big.bin" "$M/bucket/site/big.bin" >/dev/null
rc=0
secs=$(curl -s --limit-rate 3M -o "$WORK/big.got" -w '%{time_total}' "$U/big.bin") || rc=$?
check "a 16 MiB object read at 3 MiB/s (${secs:-?} s, over --store-timeout $ST) arrives whole (curl exit $rc)" \
  bash -c "[ $rc = 0 ] && cmp -s '$WORK/big.bin' '$WORK/big.got'"
check "ferry is still running" kill -0 "$FERRY_PID"
out=$(python3 "$PY" get "$U/ok.bin")
check "after the faults, the exact bytes again" [ "$(kv sha "$out")" = "$(sha "$WORK/ok.bin")" ]
finish
