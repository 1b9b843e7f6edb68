#!/usr/bin/env bash
# Signals under load: 200 clients each download 8 MiB at 1 MiB/s from `ferry
# serve` (plain HTTP/1.1, then HTTPS with HTTP/2); once every download has
# its first bytes, a SIGHUP (a configuration reload) arrives, and a SIGTERM
# (drain) two seconds later. Every download must finish whole (curl exit 0,
# the exact bytes): no request lost, no connection reset that was not idle.
# After the drain ferry exits 0 and new connections are refused.
#
#   bash tests/scripts/signals.sh
#   N=50 bash tests/scripts/signals.sh
source "$(dirname "$0")/../lib/common.sh"
need curl
need openssl
need python3 python3
FERRY=$(ferry_bin)
N=${N:-200}
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site" "$WORK/out"
head -c $((8 << 20)) /dev/urandom >"$WORK/site/8m.bin"
want=$(sha "$WORK/site/8m.bin")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ulimit -n 4096 2>/dev/null || true

# load LABEL URL [curl options]: N downloads; once each has its first bytes
# (on 2 cores, 200 curls take a while to start and shake hands: one still in
# the listener's backlog at SIGTERM is reset, as nginx's would be, and is
# not in flight), SIGHUP, then SIGTERM 2 s later.
load() {
  local label=$1 url=$2; shift 2
  local pids=() i rc bad=0 whole=0 exit_code=0
  rm -f "$WORK"/out/*
  for i in $(seq "$N"); do
    curl -s --limit-rate 1M "$@" -o "$WORK/out/$i" -w '%{http_code}\n' "$url/8m.bin" \
      >"$WORK/out/$i.code" 2>"$WORK/out/$i.err" &
    pids+=($!)
  done
  local started=0 t0
  t0=$(date +%s%N)
  for _ in $(seq 300); do
    started=0
    for i in $(seq "$N"); do [ -s "$WORK/out/$i" ] && started=$((started + 1)); done
    [ "$started" = "$N" ] && break
    sleep 0.1
  done
  echo "#   $started of $N downloads under way before the signals (after $((($(date +%s%N) - t0) / 1000000)) ms)"
  kill -HUP "$FERRY_PID"
  sleep 2
  kill -TERM "$FERRY_PID"
  # The listeners close when the drain begins (ferry says so).
  for _ in $(seq 50); do
    grep -q 'shutting down' "$WORK/ferry.log" && break
    sleep 0.1
  done
  sleep 0.3
  # curl's exit 7: the connection was refused (a listener that accepts and
  # never answers would be a timeout, 28).
  local refused=0 rc=0
  curl -s -o /dev/null --max-time 2 "$@" "$url/8m.bin" || rc=$?
  [ "$rc" != 7 ] || refused=1
  echo "#   a new connection after SIGTERM: curl exit $rc (7: refused)"
  for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if [ "$rc" = 0 ] && [ "$(cat "$WORK/out/$((i + 1)).code")" = 200 ] &&
      [ "$(sha "$WORK/out/$((i + 1))")" = "$want" ]; then
      whole=$((whole + 1))
    else
      bad=$((bad + 1))
      [ "$bad" -le 3 ] && echo "#   download $((i + 1)): curl exit $rc, $(stat -c %s "$WORK/out/$((i + 1))") bytes, $(cat "$WORK/out/$((i + 1)).err")"
    fi
  done
  wait "$FERRY_PID" || exit_code=$?
  check "$label: all $N downloads in flight across SIGHUP and SIGTERM finish whole ($whole whole, $bad not)" \
    [ "$whole" = "$N" ]
  check "$label: a new connection after SIGTERM is refused" [ "$refused" = 1 ]
  check "$label: ferry exits 0 once drained (exit $exit_code)" [ "$exit_code" = 0 ]
  grep -i 'reload' "$WORK/ferry.log" | head -2 | sed 's/^/#   ferry: /' || true
}

cat >"$WORK/plain.toml" <<TOML
root = "$WORK/site"
access-log = "$WORK/access.log"
TOML
start_ferry "$WORK/ferry.log" serve --config "$WORK/plain.toml"
load "HTTP/1.1" "$FERRY_URL"

cat >"$WORK/tls.toml" <<TOML
root = "$WORK/site"
access-log = "$WORK/access.log"
tls-cert = "$WORK/cert.pem"
tls-key = "$WORK/key.pem"
TOML
start_ferry "$WORK/ferry.log" serve --config "$WORK/tls.toml"
load "HTTPS HTTP/2" "${FERRY_URL/http:/https:}" -k --http2
finish
