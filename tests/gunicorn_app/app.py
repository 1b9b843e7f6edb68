"""A tiny WSGI app for ferry's gunicorn test (tests/scripts/gunicorn.sh) and the
proxy benchmark (bench/proxy.sh). Standard library only.

Run: PRIVATE_ROOT=/srv/private gunicorn -w 1 -b 127.0.0.1:8000 --chdir tests/gunicorn_app app:app

GET  /                 a tiny page
GET  /page1k           a 1 KiB page (1024 bytes of "x")
POST /upload           reads the whole body; answers "LENGTH SHA256\n"
GET  /big              8 MiB: bytes 0..255 repeated
GET  /accel/NAME       X-Accel-Redirect: /protected/NAME (NAME kept percent-encoded)
GET  /sendfile/NAME    X-Sendfile: PRIVATE_ROOT/NAME, absolute and percent-encoded
GET  /stream           X-Accel-Buffering: no; "first\n", a 1.5 s pause, "last\n"
"""
import hashlib
import os
import time
from urllib.parse import quote, unquote

PRIVATE_ROOT = os.environ.get("PRIVATE_ROOT", "/nonexistent")
BIG = bytes(range(256)) * (8 * 1024 * 1024 // 256)
PAGE1K = b"x" * 1024


def raw_path(environ):
    """The request path as the client sent it (still percent-encoded)."""
    uri = environ.get("RAW_URI")  # gunicorn's
    if uri:
        return uri.split("?", 1)[0]
    # PATH_INFO is decoded and carried as latin-1 (PEP 3333): re-encode it.
    return quote(environ.get("PATH_INFO", "").encode("latin-1"))


def app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = raw_path(environ)
    if path == "/" and method in ("GET", "HEAD"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"hello\n"]
    if path == "/page1k" and method in ("GET", "HEAD"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1024")])
        return [PAGE1K]
    if path == "/upload" and method == "POST":
        body = environ["wsgi.input"]
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = body.read(64 * 1024)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        out = f"{n} {h.hexdigest()}\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
        return [out]
    if path == "/big" and method in ("GET", "HEAD"):
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))],
        )
        return [BIG[i : i + 65536] for i in range(0, len(BIG), 65536)]
    if path.startswith("/accel/") and method in ("GET", "HEAD"):
        name = path[len("/accel/") :]
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("X-Accel-Redirect", "/protected/" + name),
                ("Content-Length", "0"),
            ],
        )
        return [b""]
    if path.startswith("/sendfile/") and method in ("GET", "HEAD"):
        # The name arrives percent-encoded; the header carries the decoded file
        # name, percent-encoded again as a whole path (what django-sendfile2's
        # xsendfile backend sends for non-ASCII names).
        name = unquote(path[len("/sendfile/") :])
        target = quote(os.path.join(PRIVATE_ROOT, name))
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/pdf"),
                ("X-Sendfile", target),
                ("Content-Length", "0"),
            ],
        )
        return [b""]
    if path == "/stream" and method == "GET":
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")],
        )

        def gen():
            yield b"first\n"
            time.sleep(1.5)
            yield b"last\n"

        return gen()
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"not found\n"]
