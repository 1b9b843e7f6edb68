#!/usr/bin/env bash
# Request smuggling through `ferry proxy` in front of gunicorn: the upstream is
# tests/attack/record_app.py (gthread workers, so connections are kept alive
# and a desync would show), which records every request it receives. Each case
# of tests/attack/smuggle.py — CL.TE, TE.CL, Transfer-Encoding obfuscations,
# duplicate/conflicting Content-Length, chunk-size overflows and junk, a request
# line as a trailer, bare LF, obs-fold, and HTTP/2 → HTTP/1.1 downgrades over
# HTTPS (content-length mismatches, CR/LF/NUL in field values, names, :path,
# :method) — must be refused (400/501, a reset stream for h2) or forwarded as
# exactly one request; the upstream must never see /smuggled or an injected field.
# Then the same cases against the Django scenario (tests/django_app under
# gunicorn, recorded by gunicorn's access log; DJANGO=0 skips it).
#
#   bash tests/scripts/smuggle.sh
#   FERRY_BIN=target/release/ferry bash tests/scripts/smuggle.sh
source "$(dirname "$0")/../lib/common.sh"
need python3 python3
need openssl
FERRY=$(ferry_bin)

VENV="${FERRY_GUNICORN_VENV:-$CARGO_TARGET_DIR/gunicorn-venv}"
if ! "$VENV/bin/gunicorn" --version >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'gunicorn>=21'
fi
"$VENV/bin/python" -c 'import h2' 2>/dev/null || "$VENV/bin/pip" install -q 'h2>=4'

WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

GPORT=$(free_port)
RECORD_FILE="$WORK/record" "$VENV/bin/gunicorn" --worker-class gthread --workers 1 --threads 4 \
  --keep-alive 30 --graceful-timeout 1 --bind "127.0.0.1:$GPORT" --chdir "$ROOT/tests/attack" \
  record_app:app >"$WORK/gunicorn.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $GPORT), timeout=1)" 2>/dev/null && break
  sleep 0.1
done

SMUGGLE="$ROOT/tests/attack/smuggle.py"
start_ferry "$WORK/ferry.log" proxy --upstream "http://127.0.0.1:$GPORT" --no-access-log
echo "# HTTP/1.1 to ferry proxy, HTTP/1.1 to gunicorn"
check "HTTP/1.1: no case smuggles a second request past ferry proxy" \
  python3 "$SMUGGLE" "${FERRY_URL#http://}" "$WORK/record"
sanity=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary x=1 "$FERRY_URL/plain")
check "a plain POST still goes through (status $sanity)" [ "$sanity" = 200 ]

start_ferry "$WORK/ferry-tls.log" proxy --upstream "http://127.0.0.1:$GPORT" --no-access-log \
  --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
echo "# HTTP/2 over TLS to ferry proxy, HTTP/1.1 to gunicorn"
check "HTTP/2 → HTTP/1.1: no case smuggles a request or a field past ferry proxy" \
  "$VENV/bin/python" "$SMUGGLE" "${FERRY_URL#*://}" "$WORK/record" h2

# --- The Django scenario: tests/django_app under gunicorn (gthread, keep-alive),
# recorded by gunicorn's access log (method, path, the Content-Length ferry sent,
# an X-Injected field if one got through, and X-A, where the h2 cases put a NUL
# or a colon before "injected").
if [ "${DJANGO:-1}" = 1 ]; then
  DVENV="${FERRY_TEST_VENV:-$CARGO_TARGET_DIR/test-venv}"
  if ! "$DVENV/bin/python" -c 'import django, django_sendfile, gunicorn, h2' 2>/dev/null; then
    [ -x "$DVENV/bin/pip" ] || python3 -m venv "$DVENV"
    "$DVENV/bin/pip" install -q 'django>=4.2,<6' 'django-sendfile2>=0.7' 'gunicorn>=21' 'h2>=4'
  fi
  DPORT=$(free_port)
  PRIVATE_ROOT="$WORK" "$DVENV/bin/gunicorn" --worker-class gthread --workers 1 --threads 4 \
    --keep-alive 30 --graceful-timeout 1 --bind "127.0.0.1:$DPORT" --chdir "$ROOT/tests/attack" \
    --access-logfile "$WORK/django-record" \
    --access-logformat '%(m)s %(U)s %({content-length}i)s %({x-injected}i)s %({x-a}i)s' \
    django_wsgi:application >"$WORK/django.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $DPORT), timeout=1)" 2>/dev/null && break
    sleep 0.1
  done
  start_ferry "$WORK/ferry-django.log" proxy --upstream "http://127.0.0.1:$DPORT" --no-access-log
  echo "# HTTP/1.1 to ferry proxy, Django under gunicorn"
  check "Django: no case smuggles a second request past ferry proxy" \
    python3 "$SMUGGLE" "${FERRY_URL#http://}" "$WORK/django-record"
  start_ferry "$WORK/ferry-django-tls.log" proxy --upstream "http://127.0.0.1:$DPORT" --no-access-log \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
  echo "# HTTP/2 over TLS to ferry proxy, Django under gunicorn"
  check "Django: HTTP/2 → HTTP/1.1: no case smuggles a request or a field past ferry proxy" \
    "$DVENV/bin/python" "$SMUGGLE" "${FERRY_URL#*://}" "$WORK/django-record" h2
fi
finish
