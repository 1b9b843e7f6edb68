#!/usr/bin/env bash
# End to end with a real Django and django-sendfile2 behind `ferry proxy`, once with
# the nginx backend (X-Accel-Redirect) and once with the xsendfile backend (X-Sendfile).
# FRONT=nginx runs the same checks with nginx in front instead (when installed).
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3
need sha256sum coreutils

VENV="${FERRY_TEST_VENV:-$CARGO_TARGET_DIR/test-venv}"
if ! "$VENV/bin/python" -c 'import django, django_sendfile' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'django>=4.2,<6' 'django-sendfile2>=0.7'
fi

[ "${FRONT:-ferry}" = nginx ] || FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
PRIVATE="$WORK/private"
mkdir -p "$PRIVATE"
head -c 2000000 /dev/urandom >"$PRIVATE/data.bin"
printf '%%PDF-1.4 fake report\n' >"$PRIVATE/report.pdf"
printf 'outside\n' >"$WORK/secret.txt"
UNAME="résumé final.pdf"
{ printf '%%PDF-1.4 fake résumé\n'; head -c 30000 /dev/urandom; } >"$PRIVATE/$UNAME"
head -c $((192 * 1024)) /dev/urandom >"$WORK/slow.bin"
touch -d '2024-06-01 10:00:00' "$PRIVATE"/*
want=$(sha256sum <"$PRIVATE/data.bin" | cut -d' ' -f1)
AUTH='Authorization: Bearer good'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_backend() {
  local backend=$1 label=$2
  local port; port=$(free_port)
  PRIVATE_ROOT="$PRIVATE" SENDFILE_BACKEND="$backend" \
    "$VENV/bin/python" "$ROOT/tests/django_app/app.py" runserver "127.0.0.1:$port" --noreload \
    >"$WORK/django-$label.log" 2>&1 &
  local django_pid=$!
  PIDS+=("$django_pid")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/page/" && break; sleep 0.1; done

  local U front_pid
  if [ "${FRONT:-ferry}" = nginx ]; then
    start_nginx "$port" "$label"
    U=$NGINX_URL
    front_pid=$NGINX_PID
  else
    start_ferry "$WORK/ferry-$label.log" proxy --upstream "http://127.0.0.1:$port" \
      --accel "/protected/=$PRIVATE" --sendfile-root "$PRIVATE"
    U=$FERRY_URL
    front_pid=$FERRY_PID
  fi
  label="$label via ${FRONT:-ferry}"

  curl -sS -H "$AUTH" -o "$WORK/got.bin" -D "$WORK/h1" "$U/download/data.bin"
  check "$label: allowed download is 200 with the exact bytes" \
    [ "$(sha256sum <"$WORK/got.bin" | cut -d' ' -f1)" = "$want" ]
  check "$label: the internal header never reaches the client" \
    bash -c "! grep -qiE '^x-(accel-redirect|sendfile)' '$WORK/h1'"
  check "$label: refused download is Django's 403" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' "$U/download/data.bin")" = 403 ]
  local etag; etag=$(tr -d '\r' <"$WORK/h1" | sed -n 's/^etag: //Ip')
  check "$label: revalidation with the ETag is 304" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" -H "If-None-Match: $etag" "$U/download/data.bin")" = 304 ]
  local lm; lm=$(tr -d '\r' <"$WORK/h1" | sed -n 's/^last-modified: //Ip')
  check "$label: revalidation with If-Modified-Since is 304" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" -H "If-Modified-Since: $lm" "$U/download/data.bin")" = 304 ]
  head -c 777777 "$PRIVATE/data.bin" >"$WORK/part.bin"
  curl -sS -H "$AUTH" -C - -o "$WORK/part.bin" "$U/download/data.bin"
  check "$label: curl -C - resumes to the exact file" \
    [ "$(sha256sum <"$WORK/part.bin" | cut -d' ' -f1)" = "$want" ]
  check "$label: multi-range is 206 multipart/byteranges" bash -c \
    "curl -sS -H '$AUTH' -r 0-9,100-109 -D - -o /dev/null '$U/download/data.bin' | grep -qi '^content-type: multipart/byteranges'"
  curl -sS -H "$AUTH" -D "$WORK/h2" -o /dev/null "$U/attachment/"
  check "$label: Unicode attachment name (RFC 8187)" \
    grep -qi "filename\*=utf-8''Gr%C3%BC%C3%9Fe%20%E6%8A%A5%E5%91%8A.pdf" "$WORK/h2"
  check "$label: direct access to the internal prefix is 404" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" "$U/protected/data.bin")" = 404 ]
  check "$label: encoded direct access to the internal prefix is 404" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" "$U/%70rotected/data.bin")" = 404 ]
  check "$label: an ordinary page passes through" \
    [ "$(curl -sS "$U/page/")" = "an ordinary page" ]
  local up; up=$(curl -sS -X POST --data-binary @"$PRIVATE/data.bin" -H 'Content-Type: application/octet-stream' "$U/upload/")
  check "$label: upload passes through intact" [ "$up" = "2000000 $want" ]
  # runserver is threaded, so a slow client cannot starve it; what matters
  # here is that a body trickling in (64 KiB/s, 3 s) reaches the app whole.
  check "$label: a slow upload (192 KiB at 64 KiB/s) passes through intact" \
    [ "$(python3 "$ROOT/tests/gunicorn_app/client.py" upload "$U/upload/" "$WORK/slow.bin" 65536)" = "$((192 * 1024)) $(sha256sum <"$WORK/slow.bin" | cut -d' ' -f1)" ]
  if [ "$backend" = django_sendfile.backends.nginx ]; then
    # django-sendfile2 percent-encodes the URL: /protected/r%C3%A9sum%C3%A9%20final.pdf
    curl -sS -H "$AUTH" -o "$WORK/u.bin" "$U/unicode/"
    check "$label: X-Accel-Redirect with a percent-encoded name serves '$UNAME'" \
      cmp -s "$WORK/u.bin" "$PRIVATE/$UNAME"
  else
    # X-Sendfile: $PRIVATE/r%C3%A9sum%C3%A9%20final.pdf, set by the view itself
    # (the xsendfile backend would send latin-1 bytes; see tests/django_app/app.py).
    curl -sS -H "$AUTH" -o "$WORK/u.bin" "$U/unicode-quoted/"
    check "$label: X-Sendfile with a percent-encoded path serves '$UNAME'" \
      cmp -s "$WORK/u.bin" "$PRIVATE/$UNAME"
  fi
  check "$label: a hand-off outside the root is 404, never the file" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" "$U/download/..%2Fsecret.txt")" != 200 ]

  kill "$front_pid" "$django_pid" 2>/dev/null || true
  wait "$front_pid" "$django_pid" 2>/dev/null || true
}

# start_nginx DJANGO_PORT LABEL: nginx in front, configured as the django-sendfile2
# docs say (an internal location aliasing the private root); sets NGINX_URL and
# NGINX_PID.
start_nginx() {
  local port=$1 label=$2 nport
  nport=$(free_port)
  mkdir -p "$WORK/nginx-$label"
  cat >"$WORK/nginx-$label/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/nginx-$label/error.log;
pid $WORK/nginx-$label/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-$label;
  proxy_temp_path $WORK/nginx-$label;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$nport;
    location /protected/ { internal; alias $PRIVATE/; }
    location / {
      proxy_pass http://127.0.0.1:$port;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
  nginx -c "$WORK/nginx-$label/nginx.conf" -p "$WORK/nginx-$label" >"$WORK/nginx-$label/out.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nport/page/" && break; sleep 0.05; done
  NGINX_URL="http://127.0.0.1:$nport"
}

if [ "${FRONT:-ferry}" = nginx ]; then
  # The comparison run: nginx honours X-Accel-Redirect only.
  need nginx nginx-light
  run_backend django_sendfile.backends.nginx accel
else
  run_backend django_sendfile.backends.nginx accel
  run_backend django_sendfile.backends.xsendfile xsendfile
fi
finish
