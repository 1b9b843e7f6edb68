"""A fault-injecting HTTP proxy between `ferry serve s3://…` and moto, for
tests/scripts/s3faults.sh. Standard library, and boto3 (moto's dependency) for
the one signed PUT of `changed*`.

    s3faults.py PORT UPSTREAM_PORT COUNT_FILE

Path-style S3 requests (`/BUCKET/KEY`) are forwarded to moto on UPSTREAM_PORT,
except that the key's name picks a fault:

  flaky500*    the first two requests for the key get 500, then it passes
  always503*   every request for the key gets 503 (SlowDown)
  reset*       GET: the head and half the body, then a reset (RST)
  stall*       GET: nothing, for a minute
  stallbody*   GET: the head and half the body, then nothing for a minute
  changed*     GET: the object is first replaced in moto by other bytes of
               another length, then the GET goes on (with ferry's If-Match)

Every request is appended to COUNT_FILE as `METHOD PATH STATUS_SENT`.
"""
import http.client
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UP, COUNT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
LOCK = threading.Lock()
SEEN = {}
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def record(method, path, status):
    with LOCK, open(COUNT, "a") as f:
        f.write(f"{method} {path} {status}\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        conn = http.client.HTTPConnection("127.0.0.1", UP, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r, data

    def answer(self, status, data, headers=()):
        self.send_response(status)
        length = str(len(data))
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
            elif k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer keeps the object's length
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def error(self, status, code):
        record(self.command, self.path, status)
        xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        self.answer(status, xml, [("Content-Type", "application/xml")])

    def handle_any(self):
        key = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
        with LOCK:
            SEEN[key] = SEEN.get(key, 0) + 1
            nth = SEEN[key]
        get = self.command == "GET"
        if key.startswith("flaky500") and nth <= 2:
            return self.error(500, "InternalError")
        if key.startswith("always503"):
            return self.error(503, "SlowDown")
        if get and key.startswith("stall") and not key.startswith("stallbody"):
            record(self.command, self.path, "stall")
            time.sleep(60)
            self.close_connection = True
            return
        if get and key.startswith("changed"):
            # Another version, of another length, lands between HEAD and GET.
            # Signed (moto refuses anonymous overwrites): boto3 comes with moto.
            import boto3

            bucket, _, obj = self.path.split("?", 1)[0].lstrip("/").partition("/")
            s3 = boto3.client(
                "s3", endpoint_url=f"http://127.0.0.1:{UP}", region_name="us-east-1",
                aws_access_key_id="testing", aws_secret_access_key="testing",
            )
            s3.put_object(Bucket=bucket, Key=obj, Body=b"N" * 777_777)
        r, data = self.forward()
        if get and r.status in (200, 206) and key.startswith(("reset", "stallbody")):
            record(self.command, self.path, f"{r.status}-cut")
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if key.startswith("reset"):
                time.sleep(0.2)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                time.sleep(60)
            self.close_connection = True
            return
        record(self.command, self.path, r.status)
        self.answer(r.status, data, r.getheaders())

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    srv.daemon_threads = True
    srv.serve_forever()
