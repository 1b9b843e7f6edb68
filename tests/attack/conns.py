"""Connection-level attacks on a running ferry, for tests/scripts/attack.sh.
Standard library only; reads ferry's RSS, descriptors and CPU time from /proc.

    conns.py hold HOST:PORT PID N             N keep-alive connections, each with a
                                              request answered, all held; prints
                                              "rss_mib=… answered=… reused=… fresh=…"
    conns.py fds HOST:PORT PID N              more connections than ferry's descriptors:
                                              prints "cpu_ms=… resumed_ms=… served=…"
    conns.py slow HOST:PORT PID N PATH WT     N readers that never read a big file;
                                              prints "rss_mib=… freed_s=… fds_before=…"

Every figure is printed as key=value on one line; the shell script decides.
"""
import os
import socket
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_response(s):
    """Reads one response with a Content-Length; returns (status, body length)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise ConnectionError("closed before a response head")
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        b = s.recv(65536)
        if not b:
            raise ConnectionError("closed inside a body")
        body += b
    return status, len(body)


REQ = b"GET /1k.bin HTTP/1.1\r\nHost: attack\r\n\r\n"


def get(addr, timeout=5.0):
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: attack\r\nConnection: close\r\n\r\n")
        return read_response(s)[0]


def hold(addr, pid, n):
    socks = []
    answered = 0
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(REQ)
        if read_response(s)[0] == 200:
            answered += 1
        socks.append(s)
    time.sleep(0.5)
    rss = rss_mib(pid)
    open_fds = fds(pid)
    # Every held connection is still open and usable: a second request on each.
    reused = 0
    for s in socks:
        try:
            s.sendall(REQ)
            if read_response(s)[0] == 200:
                reused += 1
        except OSError:
            pass
    fresh = get(addr)
    print(f"rss_mib={rss:.1f} fds={open_fds} answered={answered} reused={reused} fresh={fresh}")
    for s in socks:
        s.close()


def exhaust(addr, pid, n):
    """Opens n connections (more than ferry can accept), then measures ferry's
    CPU time over 3 s, frees them and times how long until a request is served."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.connect(addr)  # completes from the listen queue even when not accepted
        socks.append(s)
    time.sleep(1.0)
    # While out of descriptors: a request on a new connection is not served.
    starved = socket.create_connection(addr, timeout=5)
    starved.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: attack\r\n\r\n")
    c0 = cpu_ms(pid)
    time.sleep(3.0)
    used = cpu_ms(pid) - c0
    open_fds = fds(pid)
    for s in socks:
        s.close()
    t0 = time.monotonic()
    # The request sent while starved is answered once descriptors free up.
    try:
        starved.settimeout(10)
        waited_status = read_response(starved)[0]
    except OSError:
        waited_status = 0
    waited_ms = (time.monotonic() - t0) * 1000
    starved.close()
    served = 0
    for _ in range(20):
        try:
            if get(addr) == 200:
                served += 1
        except OSError:
            pass
    print(
        f"cpu_ms={used:.0f} fds={open_fds} waited_status={waited_status} "
        f"resumed_ms={waited_ms:.0f} served={served}"
    )


def slow(addr, pid, n, path, write_timeout):
    base = fds(pid)
    socks = []
    t_connect = time.monotonic()
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(addr)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: attack\r\n\r\n".encode())
        socks.append(s)
    t0 = time.monotonic()
    connect_s = t0 - t_connect
    peak_rss = 0.0
    peak_fds = 0
    freed = None
    # Sample until ferry's descriptors are back to where they were.
    while time.monotonic() - t0 < write_timeout * 4 + 10:
        peak_rss = max(peak_rss, rss_mib(pid))
        now = fds(pid)
        peak_fds = max(peak_fds, now)
        if now <= base + 2 and time.monotonic() - t0 > 0.5:
            freed = time.monotonic() - t0
            break
        time.sleep(0.2)
    # Each reader got the head and some of the body, never all of it.
    partial = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(16).startswith(b"HTTP/1.1 200"):
                partial += 1
        except OSError:
            pass
        s.close()
    fresh = get(addr)
    print(
        f"rss_mib={peak_rss:.1f} connect_s={connect_s:.1f} fds_before={base} fds_peak={peak_fds} "
        f"freed_s={freed if freed is None else round(freed, 1)} heads={partial} fresh={fresh}"
    )


def main():
    mode, hp, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = hp.rsplit(":", 1)
    addr = (host, int(port))
    if mode == "hold":
        hold(addr, pid, int(sys.argv[4]))
    elif mode == "fds":
        exhaust(addr, pid, int(sys.argv[4]))
    elif mode == "slow":
        slow(addr, pid, int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
