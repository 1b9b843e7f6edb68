#!/usr/bin/env bash
# gunicorn with ONE sync worker (tests/gunicorn_app/app.py) behind `ferry proxy`:
# slow clients must not hold the worker (the front buffers request and response
# bodies, as nginx does), uploads arrive intact, a body over --max-body-size is
# 413, and X-Accel-Redirect / X-Sendfile hand-offs serve the exact bytes.
#
#   bash tests/scripts/gunicorn.sh                 # ferry in front
#   FRONT=nginx bash tests/scripts/gunicorn.sh     # nginx in front: the same checks
#   FERRY_BIN=target/release/ferry bash tests/scripts/gunicorn.sh   # no debug build
#
# nginx honours X-Accel-Redirect only and has no --max-body-size flag: with
# FRONT=nginx the X-Sendfile checks are skipped and the 413 checks use nginx's own
# `client_max_body_size 1m`.
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3
need sha256sum coreutils
FRONT=${FRONT:-ferry}
case $FRONT in
ferry) FERRY=$(ferry_bin) ;;
nginx) need nginx nginx-light ;;
*) echo "FRONT must be ferry or nginx, got '$FRONT'" >&2; exit 2 ;;
esac

VENV="${FERRY_GUNICORN_VENV:-$CARGO_TARGET_DIR/gunicorn-venv}"
if ! "$VENV/bin/gunicorn" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'gunicorn>=21'
fi
CLIENT="$ROOT/tests/gunicorn_app/client.py"

WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
PRIVATE="$WORK/private"
mkdir -p "$PRIVATE"
head -c 2000000 /dev/urandom >"$PRIVATE/data.bin"
UNAME="résumé final.pdf"
UNAME_ENC="r%C3%A9sum%C3%A9%20final.pdf"
{ printf '%%PDF-1.4 fake résumé\n'; head -c 30000 /dev/urandom; } >"$PRIVATE/$UNAME"
touch -d '2024-06-01 10:00:00' "$PRIVATE"/*
head -c $((256 * 1024)) /dev/urandom >"$WORK/slow.bin"
head -c $((512 * 1024)) /dev/urandom >"$WORK/half.bin"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$WORK/2m.bin"
big_sha=$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256)) * 32768).hexdigest())')

# The app: one sync worker, so one request at a time. --graceful-timeout keeps
# the stop at the end short.
GPORT=$(free_port)
PRIVATE_ROOT="$PRIVATE" "$VENV/bin/gunicorn" --workers 1 --worker-class sync --timeout 60 \
  --graceful-timeout 2 --bind "127.0.0.1:$GPORT" --chdir "$ROOT/tests/gunicorn_app" app:app \
  >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
PIDS+=("$GUNICORN_PID")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GPORT/" && break; sleep 0.1; done

# start_nginx: nginx in front as usually configured (request and response
# buffering on, the defaults), with an internal location for X-Accel-Redirect and
# client_max_body_size 1m; sets NGINX_URL and NGINX_PID.
start_nginx() {
  local nport; nport=$(free_port)
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/nginx/error.log;
pid $WORK/nginx/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  client_max_body_size 1m;
  server {
    listen 127.0.0.1:$nport;
    location /protected/ { internal; alias $PRIVATE/; }
    location / {
      proxy_pass http://127.0.0.1:$GPORT;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >"$WORK/nginx/out.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.05; done
  NGINX_URL="http://127.0.0.1:$nport"
}

if [ "$FRONT" = nginx ]; then
  start_nginx
  U=$NGINX_URL
else
  start_ferry "$WORK/ferry.log" proxy --upstream "http://127.0.0.1:$GPORT" \
    --accel "/protected/=$PRIVATE" --sendfile-root "$PRIVATE"
  U=$FERRY_URL
fi
L="via $FRONT"

# quick_get: GET / with a 3 s cap; prints "STATUS SECONDS".
quick_get() { curl -sS -o "$WORK/quick" -w '%{http_code} %{time_total}' --max-time 3 "$U/" 2>/dev/null || true; }
# answered_fast STATUS SECONDS: a 200 in under 0.5 s.
answered_fast() { [ "$1" = 200 ] && below "$2" 0.5; }
# worker_free: waits up to 10 s for the worker to answer GET / again.
worker_free() { for _ in $(seq 40); do [ "$(quick_get | cut -d' ' -f1)" = 200 ] && return 0; sleep 0.25; done; }

check "$L: GET / is the app's page" [ "$(curl -sS "$U/")" = hello ]

# --- A slow upload must not hold the one worker: the front reads the whole
# body before it sends the request on (nginx's proxy_request_buffering).
python3 "$CLIENT" upload "$U/upload" "$WORK/slow.bin" 32768 >"$WORK/slow-up.out" 2>&1 &
SLOW=$!
PIDS+=("$SLOW")
sleep 1
read -r code secs <<<"$(quick_get)"
check "$L: GET / answered within 0.5 s while a 256 KiB upload trickles in at 32 KiB/s (status ${code:-none}, ${secs:-?} s)" \
  answered_fast "$code" "$secs"
wait "$SLOW" || true
check "$L: the slow upload arrives intact (app saw: $(head -c 80 "$WORK/slow-up.out"))" \
  [ "$(cat "$WORK/slow-up.out")" = "$((256 * 1024)) $(sha "$WORK/slow.bin")" ]
worker_free

# --- A slow reader must not hold the worker either: the front takes the whole
# 8 MiB response off it (nginx's proxy_buffering, spilling to a temp file).
python3 "$CLIENT" read "$U/big" 262144 >"$WORK/slow-read.out" 2>&1 &
SLOW=$!
PIDS+=("$SLOW")
sleep 1
read -r code secs <<<"$(quick_get)"
check "$L: GET / answered within 0.5 s while a client reads 8 MiB at 256 KiB/s (status ${code:-none}, ${secs:-?} s)" \
  answered_fast "$code" "$secs"
kill "$SLOW" 2>/dev/null || true
wait "$SLOW" 2>/dev/null || true
worker_free

curl -sS -o "$WORK/big.bin" "$U/big"
check "$L: GET /big at full speed is the exact 8 MiB" [ "$(sha "$WORK/big.bin")" = "$big_sha" ]

# --- X-Accel-Buffering: no means stream as the app writes.
read -r first body <<<"$(python3 "$CLIENT" stream "$U/stream")"
check "$L: X-Accel-Buffering: no streams the first line at once (${first:-?} s; the app pauses 1.5 s)" \
  below "${first:-99}" 0.5
check "$L: the streamed body is complete" [ "$body" = "first|last|" ]
curl -sS -D "$WORK/hs" -o /dev/null "$U/stream"
check "$L: X-Accel-Buffering never reaches the client" bash -c "! grep -qi '^x-accel-' '$WORK/hs'"

# --- X-Accel-Redirect: a 2 MB file, exact bytes, then revalidation.
want=$(sha "$PRIVATE/data.bin")
curl -sS -D "$WORK/h1" -o "$WORK/got.bin" "$U/accel/data.bin"
check "$L: X-Accel-Redirect serves the exact 2 MB" [ "$(sha "$WORK/got.bin")" = "$want" ]
check "$L: the internal header never reaches the client" \
  bash -c "! grep -qiE '^x-(accel-redirect|sendfile)' '$WORK/h1'"
etag=$(tr -d '\r' <"$WORK/h1" | sed -n 's/^etag: //Ip')
check "$L: X-Accel-Redirect revalidation with the ETag is 304" \
  [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/accel/data.bin")" = 304 ]
lm=$(tr -d '\r' <"$WORK/h1" | sed -n 's/^last-modified: //Ip')
check "$L: X-Accel-Redirect revalidation with If-Modified-Since is 304" \
  [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" "$U/accel/data.bin")" = 304 ]
curl -sS -o "$WORK/got-u.bin" "$U/accel/$UNAME_ENC"
check "$L: X-Accel-Redirect: /protected/$UNAME_ENC serves '$UNAME'" \
  [ "$(sha "$WORK/got-u.bin")" = "$(sha "$PRIVATE/$UNAME")" ]
check "$L: direct access to the internal prefix is 404" \
  [ "$(curl -sS -o /dev/null -w '%{http_code}' "$U/protected/data.bin")" = 404 ]

# --- X-Sendfile with a percent-encoded path (nginx has no X-Sendfile).
if [ "$FRONT" = ferry ]; then
  curl -sS -o "$WORK/sf.bin" "$U/sendfile/data.bin"
  check "$L: X-Sendfile of an ASCII name serves the exact bytes" [ "$(sha "$WORK/sf.bin")" = "$want" ]
  code=$(curl -sS -o "$WORK/sf-u.bin" -w '%{http_code}' "$U/sendfile/$UNAME_ENC")
  check "$L: X-Sendfile: $PRIVATE/$UNAME_ENC (percent-encoded) serves '$UNAME' (status $code)" \
    [ "$(sha "$WORK/sf-u.bin")" = "$(sha "$PRIVATE/$UNAME")" ]
else
  echo "# skipped with nginx: X-Sendfile (nginx honours X-Accel-Redirect only)"
fi

# --- A body over the maximum is 413, whether its length is declared or chunked.
LIMITED=
if [ "$FRONT" = nginx ]; then
  LIMITED=$U # client_max_body_size 1m in the config
elif start_ferry "$WORK/ferry-limited.log" proxy --upstream "http://127.0.0.1:$GPORT" \
  --accel "/protected/=$PRIVATE" --max-body-size 1m; then
  LIMITED=$FERRY_URL
else
  fail "$L: ferry proxy --max-body-size 1m starts ($(grep -m1 -i error "$WORK/ferry-limited.log" || true))"
fi
if [ -n "$LIMITED" ]; then
  check "$L: a 2 MiB upload over a 1m maximum is 413" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$WORK/2m.bin" "$LIMITED/upload")" = 413 ]
  check "$L: a 2 MiB chunked upload over a 1m maximum is 413" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/2m.bin" "$LIMITED/upload")" = 413 ]
  check "$L: a 512 KiB upload under the 1m maximum passes intact" \
    [ "$(curl -sS --data-binary @"$WORK/half.bin" "$LIMITED/upload")" = "$((512 * 1024)) $(sha "$WORK/half.bin")" ]
fi
finish
