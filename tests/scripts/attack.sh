#!/usr/bin/env bash
# Connection attacks on `ferry serve` over real sockets (tests/attack/conns.py):
#  - 10,000 concurrent keep-alive connections held: all answered, all still usable,
#    a new client still served; ferry's RSS is printed;
#  - out of file descriptors (ferry under `ulimit -n 64`, more connections than
#    that): accept backs off without spinning (CPU time over 3 s stays small) and
#    service resumes by itself once descriptors free up; the log says so once
#    when it starts and once when it ends, not once per retry;
#  - 1,000 readers of a 100 MiB file that never read: RSS stays bounded and
#    --write-timeout closes them all (descriptors back within the timeout + slack).
#
#   bash tests/scripts/attack.sh
#   CONNS=2000 bash tests/scripts/attack.sh        # fewer held connections
#   FERRY_BIN=target/release/ferry bash tests/scripts/attack.sh
source "$(dirname "$0")/../lib/common.sh"
need python3 python3
need truncate coreutils
need taskset util-linux
FERRY=$(ferry_bin)
CONNS=${CONNS:-10000}
SLOW=${SLOW:-1000}
WT=3 # --write-timeout for the slow readers

WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site"
head -c 1024 /dev/urandom >"$WORK/site/1k.bin"
truncate -s 100M "$WORK/site/100m.bin" # sparse: the bytes cost nothing
CONNS_PY="$ROOT/tests/attack/conns.py"
addr() { echo "${FERRY_URL#http://}"; }
# below A B: A < B, as decimals.
# between N LO HI: LO <= N <= HI, integers.
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# --- 10,000 keep-alive connections. The client and ferry each need one
# descriptor per connection: raise the soft limit as far as the hard one allows.
want=$((CONNS + 200))
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  fail "ulimit -n can only be raised to $(ulimit -n) (hard limit), $want are needed for $CONNS connections"
else
  start_ferry "$WORK/hold.log" serve "$WORK/site" --no-access-log --max-connections $((CONNS + 100))
  rss0=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$FERRY_PID/status")
  out=$(python3 "$CONNS_PY" hold "$(addr)" "$FERRY_PID" "$CONNS" 2>&1) || true
  echo "# $CONNS keep-alive connections: $out (RSS before: $rss0 MiB)"
  check "$CONNS keep-alive connections each get their 200" [ "$(kv answered "$out")" = "$CONNS" ]
  check "all $CONNS stay open and answer a second request" [ "$(kv reused "$out")" = "$CONNS" ]
  check "a new client is served while $CONNS are held" [ "$(kv fresh "$out")" = 200 ]
  check "ferry's RSS with $CONNS connections held is under 512 MiB ($(kv rss_mib "$out") MiB)" \
    below "$(kv rss_mib "$out")" 512
  kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true
fi

# --- Out of descriptors: ferry gets 64, the client opens 150 connections.
# One core (one worker): ferry's own descriptors then do not grow with the
# machine's core count and the 64 leave room for connections.
(ulimit -n 64; exec taskset -c 0 "$FERRY" serve "$WORK/site" --listen 127.0.0.1:0 --no-access-log \
  --header-timeout 60 2>"$WORK/fds.log") &
FERRY_PID=$!
PIDS+=("$FERRY_PID")
FERRY_URL=
for _ in $(seq 100); do
  FERRY_URL=$(grep -o ' on http://[0-9.:]*' "$WORK/fds.log" | head -1 | sed 's/^ on //' || true)
  [ -n "$FERRY_URL" ] && break
  sleep 0.05
done
out=$(python3 "$CONNS_PY" fds "$(addr)" "$FERRY_PID" 150 2>&1) || true
echo "# fd exhaustion (ulimit -n 64, 150 connections): $out"
failing=$(grep -c 'accept: .*retrying' "$WORK/fds.log" || true)
echo "# ferry logged: $(grep 'accept:' "$WORK/fds.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
check "out of descriptors, ferry reached its limit ($(kv fds "$out") of 64 open)" \
  below 55 "$(kv fds "$out")"
check "out of descriptors, accept backs off: ferry used $(kv cpu_ms "$out") ms of CPU in 3 s (< 300)" \
  below "$(kv cpu_ms "$out")" 300
check "a request sent while out of descriptors is answered once they free up ($(kv waited_status "$out") after $(kv resumed_ms "$out") ms)" \
  [ "$(kv waited_status "$out")" = 200 ]
check "service resumes by itself: 20 of 20 new requests served" [ "$(kv served "$out")" = 20 ]
retries=$(sed -n 's/.*resumed after \([0-9]*\) failed.*/\1/p' "$WORK/fds.log" | awk '{ n += $1 } END { print n + 0 }')
check "out of descriptors, a line when a run of failures starts ($failing) and ends, not one per retry ($retries)" \
  between "$failing" 1 10
check "the log says when accepting resumed" grep -q 'accept: resumed after' "$WORK/fds.log"
check "ferry is still running" kill -0 "$FERRY_PID"
kill "$FERRY_PID"; wait "$FERRY_PID" 2>/dev/null || true

# --- 1,000 slow readers of a 100 MiB file, --write-timeout $WT.
ulimit -n "$((SLOW + 200))" 2>/dev/null || true
start_ferry "$WORK/slow.log" serve "$WORK/site" --no-access-log --write-timeout "$WT"
out=$(python3 "$CONNS_PY" slow "$(addr)" "$FERRY_PID" "$SLOW" /100m.bin "$WT" 2>&1) || true
echo "# $SLOW readers of 100 MiB that never read (--write-timeout $WT): $out"
check "$SLOW stalled readers got their response heads" [ "$(kv heads "$out")" = "$SLOW" ]
check "$SLOW stalled readers: ferry's RSS stays under 256 MiB ($(kv rss_mib "$out") MiB at the peak)" \
  below "$(kv rss_mib "$out")" 256
check "--write-timeout $WT frees all $SLOW connections within $((WT + 5)) s (took $(kv freed_s "$out") s)" \
  below "$(kv freed_s "$out")" $((WT + 5))
check "a new client is served after the stalled readers" [ "$(kv fresh "$out")" = 200 ]
finish
