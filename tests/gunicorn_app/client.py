"""Slow HTTP/1.1 clients for tests/scripts/gunicorn.sh and django.sh. Standard library only.

python3 client.py upload URL FILE RATE   POST FILE at RATE bytes/s; prints the response body
python3 client.py read URL RATE          GET at RATE bytes/s with a 64 KiB receive buffer;
                                         prints the number of body bytes read
python3 client.py stream URL             GET; prints the seconds until the first body line
                                         arrived and the whole body on one line
"""
import os
import socket
import sys
import time
from urllib.parse import urlsplit

CHUNK = 8192


def connect(url, rcvbuf=None):
    u = urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect, so the window is small from the handshake on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((u.hostname, u.port or 80))
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    return s, target, u.netloc


def dechunk(head, body):
    """The body without chunked framing ("size\r\ndata\r\n" ... "0\r\n\r\n")."""
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out, rest = b"", body
    while rest:
        n, _, rest = rest.partition(b"\r\n")
        n = int(n.split(b";")[0], 16)
        if n == 0:
            break
        out, rest = out + rest[:n], rest[n + 2 :]
    return out


def read_response(s):
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    return head, dechunk(head, body)


def upload(url, path, rate):
    size = os.path.getsize(path)
    s, target, host = connect(url)
    s.sendall(
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
    )
    start = time.monotonic()
    sent = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            s.sendall(chunk)
            sent += len(chunk)
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    head, body = read_response(s)
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in status + " ":
        print(status)
    else:
        print(body.decode(errors="replace").strip())


def read(url, rate):
    s, target, host = connect(url, rcvbuf=65536)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    start = time.monotonic()
    got = 0
    while True:
        b = s.recv(CHUNK)
        if not b:
            break
        got += len(b)
        delay = start + got / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(got)


def stream(url):
    s, target, host = connect(url)
    start = time.monotonic()
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    first = None
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
        if first is None and b"first\n" in data.partition(b"\r\n\r\n")[2]:
            first = time.monotonic() - start
    head, _, body = data.partition(b"\r\n\r\n")
    body = dechunk(head, body)
    print(f"{first if first is not None else 99:.3f} {body.decode(errors='replace').replace(chr(10), '|')}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "upload":
        upload(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "read":
        read(sys.argv[2], float(sys.argv[3]))
    elif cmd == "stream":
        stream(sys.argv[2])
    else:
        sys.exit(__doc__)
