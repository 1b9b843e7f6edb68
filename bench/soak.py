"""Mixed traffic against `ferry serve` and `ferry proxy` for bench/soak.sh.

Standard library only. Every INTERVAL seconds it samples each ferry's RSS and
open descriptors (/proc/PID), sends both a SIGHUP (a reload), and prints one
table row: requests, p99 latency, errors, bad requests sent and answered.

    python3 bench/soak.py SERVE_URL SERVE_PID PROXY_URL PROXY_PID DURATION INTERVAL

An error is anything not expected: a wrong status, a short body, a reset or
timeout on a request that was not meant to be bad. Bad requests (malformed
heads) are counted apart; their expected answer is 400 (501 for a
Transfer-Encoding other than chunked).
"""
import http.client
import os
import random
import signal
import socket
import sys
import threading
import time

SERVE_URL, SERVE_PID, PROXY_URL, PROXY_PID = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
DURATION, INTERVAL = float(sys.argv[5]), float(sys.argv[6])
WORKERS = int(os.environ.get("WORKERS", "6"))
SLOW = int(os.environ.get("SLOW", "4"))
PAUSE = float(os.environ.get("PAUSE", "0.005"))


def hostport(url):
    h, p = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    return h, int(p)


SERVE, PROXY = hostport(SERVE_URL), hostport(PROXY_URL)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.lat = []
        self.errors = 0
        self.bad_sent = 0
        self.bad_400 = 0
        self.slow_done = 0
        self.last_error = ""

    def ok(self, secs):
        with self.lock:
            self.lat.append(secs)

    def error(self, what):
        with self.lock:
            self.errors += 1
            self.last_error = what

    def take(self):
        with self.lock:
            out = (self.lat, self.errors, self.bad_sent, self.bad_400, self.slow_done, self.last_error)
            self.reset()
            return out


STATS = Stats()
STOP = threading.Event()
ETAGS = {}


def request(conn, method, path, headers=None, body=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r, data


# (target, method, path, headers, expected status, expected body length or None)
def pick():
    n = random.random()
    if n < 0.30:
        return SERVE, "GET", "/1k.bin", {}, 200, 1024
    if n < 0.45:
        return SERVE, "GET", "/1k.bin", {"If-None-Match": ETAGS.get("1k", '"none"')}, 304, 0
    if n < 0.55:
        return SERVE, "GET", "/1m.bin", {"Range": "bytes=1000-1999"}, 206, 1000
    if n < 0.65:
        return SERVE, "HEAD", "/1m.bin", {}, 200, 0
    if n < 0.70:
        return SERVE, "GET", "/missing", {}, 404, None
    if n < 0.85:
        return PROXY, "GET", "/page1k", {}, 200, 1024
    if n < 0.92:
        return PROXY, "POST", "/upload", {"Content-Type": "application/octet-stream"}, 200, None
    return PROXY, "GET", "/", {}, 200, 6


def worker():
    conns = {}
    while not STOP.is_set():
        target, method, path, headers, want, length = pick()
        body = b"u" * 4096 if method == "POST" else None
        conn = conns.get(target)
        if conn is None:
            conn = conns[target] = http.client.HTTPConnection(*target, timeout=10)
        t0 = time.monotonic()
        try:
            r, data = request(conn, method, path, headers, body)
            secs = time.monotonic() - t0
            if r.status != want or (length is not None and len(data) != length):
                STATS.error(f"{method} {path}: {r.status} {len(data)} B")
            else:
                STATS.ok(secs)
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conns.pop(target, None)
        except (OSError, http.client.HTTPException) as e:
            STATS.error(f"{method} {path}: {type(e).__name__} {e}")
            conn.close()
            conns.pop(target, None)
        time.sleep(PAUSE)


BAD = [
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n folded: yes\r\n\r\n",
]


def bad_client():
    while not STOP.is_set():
        target = random.choice([SERVE, PROXY])
        raw = random.choice(BAD)
        with STATS.lock:
            STATS.bad_sent += 1
        try:
            with socket.create_connection(target, timeout=10) as s:
                s.sendall(raw)
                head = s.recv(64)
            if head.startswith((b"HTTP/1.1 400", b"HTTP/1.1 501")):
                with STATS.lock:
                    STATS.bad_400 += 1
        except OSError:
            pass
        time.sleep(0.2)


def slow_client():
    """Reads the 1 MiB file at about 64 KiB/s, then starts again."""
    while not STOP.is_set():
        try:
            with socket.create_connection(SERVE, timeout=30) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
                s.sendall(b"GET /1m.bin HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
                got = b""
                while True:
                    b = s.recv(8192)
                    if not b:
                        break
                    got += b
                    time.sleep(0.125)
            head, _, body = got.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200") or len(body) != 1 << 20:
                STATS.error(f"slow: {head[:20]!r} {len(body)} B")
            else:
                with STATS.lock:
                    STATS.slow_done += 1
        except OSError as e:
            STATS.error(f"slow: {type(e).__name__} {e}")


def proc(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def p99(lat):
    if not lat:
        return 0.0
    lat.sort()
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000


def main():
    c = http.client.HTTPConnection(*SERVE, timeout=5)
    r, _ = request(c, "GET", "/1k.bin")
    ETAGS["1k"] = r.getheader("ETag")
    c.close()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    threads += [threading.Thread(target=slow_client, daemon=True) for _ in range(SLOW)]
    threads += [threading.Thread(target=bad_client, daemon=True)]
    for t in threads:
        t.start()
    print(
        "| t (s) | serve RSS MiB | serve fds | proxy RSS MiB | proxy fds | requests | req/s | p99 ms "
        "| errors | bad sent | bad → 400/501 | slow reads done |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    start = time.monotonic()
    total_errors = 0
    minute = 0
    while time.monotonic() - start < DURATION:
        minute += 1
        time.sleep(max(0.0, start + minute * INTERVAL - time.monotonic()))
        lat, errors, bad_sent, bad_400, slow_done, last = STATS.take()
        srss, sfds = proc(SERVE_PID)
        prss, pfds = proc(PROXY_PID)
        total_errors += errors
        n = len(lat)
        print(
            f"| {minute * INTERVAL:.0f} | {srss} | {sfds} | {prss} | {pfds} | {n} | {n / INTERVAL:.0f} | {p99(lat):.1f} "
            f"| {errors} | {bad_sent} | {bad_400} | {slow_done} |",
            flush=True,
        )
        if last:
            print(f"  last error: {last}", file=sys.stderr, flush=True)
        # A reload every interval, under the traffic.
        os.kill(SERVE_PID, signal.SIGHUP)
        os.kill(PROXY_PID, signal.SIGHUP)
    STOP.set()
    print(f"\ntotal errors: {total_errors}", flush=True)
    sys.exit(1 if total_errors else 0)


if __name__ == "__main__":
    main()
