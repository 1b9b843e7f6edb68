"""Broken upstreams and a strict client, for tests/scripts/faults.sh and disk.sh.
Standard library only.

    faults.py upstream PORT            a raw-socket HTTP/1.1 "application" whose
                                       answer depends on the request path (below)
    faults.py get URL [--after N ACTION PATH [ARG]] [--tls] [--rcvbuf B]
                                       one GET, the response framed strictly; after
                                       N body bytes, ACTION (truncate PATH to ARG
                                       bytes, replace PATH by ARG, delete PATH),
                                       then the rest read at full speed. Prints
                                       "status=… length=… got=… complete=0|1
                                       sha=… secs=…": complete=1 only when the
                                       whole declared length, or the last chunk,
                                       arrived before the connection ended.

Upstream paths:
  /reset      200, Content-Length 1 MiB, half of it, then a reset (RST)
  /reset-chunked  200 chunked, a few chunks, then a reset, no last chunk
  /short      200, Content-Length 1 MiB, half of it, then a clean close (FIN)
  /silent     reads the request and never answers
  /endless    a status line, then header lines for ever
  /oversized  one 1 MiB header line, then the end of the head
  /accel/NAME X-Accel-Redirect: /protected/NAME
"""
import hashlib
import os
import socket
import ssl
import struct
import sys
import threading
import time

HALF = 512 * 1024
FULL = 2 * HALF
PATTERN = bytes(range(256)) * (FULL // 256)


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = c.recv(65536)
        if not b:
            return None
        buf += b
    return buf.split(b"\r\n", 1)[0]


def reset(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def handle(c):
    try:
        line = read_head(c)
        if line is None:
            return c.close()
        path = line.split(b" ")[1].decode()
        if path == "/reset":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % FULL + PATTERN[:HALF])
            time.sleep(0.2)
            return reset(c)
        if path == "/reset-chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(4):
                c.sendall(b"4000\r\n" + PATTERN[:0x4000] + b"\r\n")
            time.sleep(0.2)
            return reset(c)
        if path == "/short":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % FULL + PATTERN[:HALF])
            time.sleep(0.2)
            return c.close()
        if path == "/silent":
            time.sleep(60)
            return c.close()
        if path == "/endless":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(10**6):
                c.sendall(b"X-Endless-%d: %s\r\n" % (i, b"a" * 100))
            return c.close()
        if path == "/oversized":
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * FULL + b"\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.5)
            return c.close()
        if path.startswith("/accel/"):
            c.sendall(
                b"HTTP/1.1 200 OK\r\nX-Accel-Redirect: /protected/%s\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n" % path[len("/accel/"):].encode()
            )
            return c.close()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        c.close()
    except OSError:
        c.close()


def upstream(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def act(action, path, arg):
    if action == "truncate":
        os.truncate(path, int(arg))
    elif action == "replace":
        os.replace(arg, path)
    elif action == "delete":
        os.unlink(path)
    else:
        sys.exit(f"unknown action {action}")


def get(url, after=None, tls=False, rcvbuf=None):
    hostport, _, path = url.split("//", 1)[1].partition("/")
    host, port = hostport.rsplit(":", 1)
    t0 = time.monotonic()
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect((host, int(port)))
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    status, length, chunked = 0, None, False
    try:
        while b"\r\n\r\n" not in buf:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except OSError:
        pass
    head, _, rest = buf.partition(b"\r\n\r\n")
    body = bytearray(rest)  # appended to in place: 32 MiB by += on bytes is quadratic
    if head:
        status = int(head.split(b" ", 2)[1])
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
    done_action = after is None
    try:
        while True:
            if not done_action and len(body) >= after[0]:
                act(*after[1:])
                done_action = True
            if length is not None and len(body) >= length:
                break
            if chunked and body[-5:] == b"0\r\n\r\n":
                break
            b = s.recv(65536 if done_action else 8192)
            if not b:
                break
            body += b
            if not done_action:
                time.sleep(0.002)
    except OSError:
        pass
    s.close()
    if chunked:
        data, complete = dechunk(bytes(body))
    else:
        data = bytes(body if length is None else body[:length])
        complete = length is not None and len(body) >= length
    secs = time.monotonic() - t0
    print(
        f"status={status} length={length if length is not None else ('chunked' if chunked else '-')} "
        f"got={len(data)} complete={int(complete)} sha={hashlib.sha256(data).hexdigest()} secs={secs:.2f}"
    )


def dechunk(body):
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return out, False
        try:
            n = int(line.split(b";")[0], 16)
        except ValueError:
            return out, False
        if n == 0:
            return out, rest.startswith(b"\r\n")
        if len(rest) < n + 2:
            return out + rest[:n], False
        out += rest[:n]
        body = rest[n + 2:]


def main():
    if sys.argv[1] == "upstream":
        upstream(int(sys.argv[2]))
    elif sys.argv[1] == "get":
        args = sys.argv[3:]
        after, tls, rcvbuf = None, False, None
        while args:
            a = args.pop(0)
            if a == "--after":
                n, action, path = int(args.pop(0)), args.pop(0), args.pop(0)
                arg = args.pop(0) if action in ("truncate", "replace") else None
                after = (n, action, path, arg)
            elif a == "--tls":
                tls = True
            elif a == "--rcvbuf":
                rcvbuf = int(args.pop(0))
        get(sys.argv[2], after, tls, rcvbuf)


if __name__ == "__main__":
    main()
