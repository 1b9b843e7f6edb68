#!/usr/bin/env bash
# Operations: systemd socket activation (a listener passed as fd 3 with
# LISTEN_FDS/LISTEN_PID, as systemd does), and a connection made before ferry
# runs that is still answered.
source "$(dirname "$0")/../lib/common.sh"
need curl
need python3 python3

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site"
printf 'activated\n' >"$WORK/site/a.txt"

# The "systemd" side: bind and listen, then exec ferry with the socket as fd 3.
# A client connects before ferry has started: the kernel queues it.
"$(command -v python3)" - "$FERRY" "$WORK/site" "$WORK/port" <<'PY' &
import os, socket, sys
ferry, site, portfile = sys.argv[1:4]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
open(portfile, "w").write(str(s.getsockname()[1]))
early = socket.create_connection(s.getsockname())  # before ferry exists
early.sendall(b"GET /a.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
os.set_inheritable(early.fileno(), False)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
pid = os.fork()
if pid == 0:
    # The early client, in a child: waits for ferry's answer.
    s.close()
    data = b""
    while chunk := early.recv(65536):
        data += chunk
    open(portfile + ".early", "wb").write(data)
    os._exit(0)
early.close()
os.execve(ferry, [ferry, "serve", site, "--listen", "127.0.0.1:1", "--no-access-log"], env)
PY
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
check "serves on the socket systemd passed (not --listen)" \
  [ "$(curl -s --retry 20 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$PORT/a.txt")" = activated ]
for _ in $(seq 100); do [ -s "$WORK/port.early" ] && break; sleep 0.05; done
check "a connection made before ferry started is answered" \
  grep -q "^activated" "$WORK/port.early"

# A restart under socket activation: systemd keeps its copy of the socket, so
# after ferry's SIGTERM the socket still listens; a client that connects while
# no ferry runs is queued, and the next ferry on the same socket answers it.
restart=$("$(command -v python3)" - "$FERRY" "$WORK/site" <<'PY'
import os, signal, socket, sys, urllib.request
ferry, site = sys.argv[1:3]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
port = s.getsockname()[1]
def start():
    pid = os.fork()
    if pid == 0:
        os.dup2(s.fileno(), 3)
        os.set_inheritable(3, True)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
        os.execve(ferry, [ferry, "serve", site, "--listen", "127.0.0.1:1", "--no-access-log"], env)
    return pid
first = start()
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/a.txt", timeout=10).read()
os.kill(first, signal.SIGTERM)
os.waitpid(first, 0)
try:
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"GET /a.txt HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
except OSError as e:
    print(f"no connection while ferry was stopped: {e}")
    sys.exit()
second = start()
data = b""
while chunk := c.recv(65536):
    data += chunk
os.kill(second, signal.SIGTERM)
os.waitpid(second, 0)
print("answered" if body == b"activated\n" and data.endswith(b"activated\n") else f"not answered: {data[:100]!r}")
PY
)
echo "#   $restart"
check "after a SIGTERM, the next ferry on systemd's socket answers what queued meanwhile" \
  [ "$restart" = answered ]
finish
