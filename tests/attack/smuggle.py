"""Request smuggling attempts through `ferry proxy`, for tests/scripts/smuggle.sh.

    smuggle.py HOST:PORT RECORD_FILE [h2]

RECORD_FILE has a line per request the upstream received, `METHOD PATH
BODY_LENGTH FLAGS` (FLAGS `inj`, or a header value `injected`, when a field was
smuggled): tests/attack/record_app.py writes it, or gunicorn's access log with
`--access-logformat '%(m)s %(U)s %({content-length}i)s %({x-injected}i)s %({x-a}i)s'`.

Each case is sent on a fresh connection; its first request targets /case-NAME
and anything it tries to smuggle targets /smuggled. The upstream
(tests/attack/record_app.py) appends a line per request it receives. A case
passes when the upstream saw at most one request, none of them /smuggled nor
carrying an injected field, and ferry answered 400/501 (or 413), or forwarded
exactly that one request (whatever the app answered it). The controls must go
through. Prints the table; exits 1 if any case failed.

With `h2` (needs the `h2` package): the HTTP/2 → HTTP/1.1 downgrade cases, over
HTTPS (ALPN h2, the certificate not checked): `ferry proxy` speaks HTTP/2 over
TLS only. hyper-h2 is configured not to validate or normalize what it sends.
"""
import socket
import sys
import time

HP, RECORD = sys.argv[1], sys.argv[2]
HOST, PORT = HP.rsplit(":", 1)
ADDR = (HOST, int(PORT))
SM = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
H = b"Host: t\r\n"


def chunked_then(extra):
    return b"0\r\n\r\n" + extra


def cl(n):
    return b"Content-Length: " + str(n).encode() + b"\r\n"


def post(name, fields, body):
    return b"POST /case-" + name.encode() + b" HTTP/1.1\r\n" + H + fields + b"\r\n" + body


# (name, raw bytes). Lengths are computed so a server that believes the other
# header, or the other framing, would see /smuggled as a second request.
def h1_cases():
    te_body = chunked_then(SM)
    # A body that holds a whole request: forwarded as one body, never as two requests.
    B = b"x=abc" + SM
    cases = [
        ("control: a well-framed POST", post("control", cl(len(B)), B)),
        ("CL.TE", post("CL.TE", cl(len(te_body)) + b"Transfer-Encoding: chunked\r\n", te_body)),
        ("TE.CL", post("TE.CL", cl(4) + b"Transfer-Encoding: chunked\r\n",
                       b"%x\r\n" % (len(SM) + 2) + b"x=" + SM + b"\r\n0\r\n\r\n")),
        ("TE: chunked, identity", post("te-list", cl(len(te_body)) + b"Transfer-Encoding: chunked, identity\r\n", te_body)),
        ("TE: identity, chunked", post("te-list2", b"Transfer-Encoding: identity, chunked\r\n", b"%x\r\n" % len(SM) + SM + b"\r\n0\r\n\r\n")),
        ("TE space before colon", post("te-space", cl(len(te_body)) + b"Transfer-Encoding : chunked\r\n", te_body)),
        ("TE: tab chunked (+CL)", post("te-tab", cl(len(te_body)) + b"Transfer-Encoding:\tchunked\r\n", te_body)),
        ("TE: chunked tab (+CL)", post("te-tab2", cl(len(te_body)) + b"Transfer-Encoding: chunked\t\r\n", te_body)),
        ("TE: CHUNKED (+CL)", post("te-case", cl(len(te_body)) + b"Transfer-Encoding: CHUNKED\r\n", te_body)),
        ("TE: \\x0bchunked", post("te-vt", cl(len(te_body)) + b"Transfer-Encoding: \x0bchunked\r\n", te_body)),
        ("TE: chunked\\x0b", post("te-vt2", cl(len(te_body)) + b"Transfer-Encoding: chunked\x0b\r\n", te_body)),
        ("TE: xchunked", post("te-x", cl(len(te_body)) + b"Transfer-Encoding: xchunked\r\n", te_body)),
        ("TE: \"chunked\"", post("te-quoted", cl(len(te_body)) + b"Transfer-Encoding: \"chunked\"\r\n", te_body)),
        ("duplicate TE lines", post("te-dup", cl(len(te_body)) + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", te_body)),
        ("TE obs-fold", post("te-fold", cl(len(te_body)) + b"Transfer-Encoding: identity\r\n chunked\r\n", te_body)),
        ("TE on HTTP/1.0", b"POST /case-te10 HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + te_body),
        ("CL: 5 and CL: 40", post("cl-dup", cl(5) + cl(len(SM) + 5), b"x=abc" + SM)),
        ("CL: 5, 40", post("cl-list", b"Content-Length: 5, " + str(len(SM) + 5).encode() + b"\r\n", b"x=abc" + SM)),
        ("CL: +5", post("cl-plus", b"Content-Length: +5\r\n", b"x=abc" + SM)),
        ("CL: 0x5", post("cl-hex", b"Content-Length: 0x5\r\n", b"x=abc" + SM)),
        ("CL: 20 digits", post("cl-huge", b"Content-Length: 99999999999999999999\r\n", b"x=abc" + SM)),
        ("CL space before colon", post("cl-space", b"Content-Length : 5\r\n", b"x=abc" + SM)),
        ("chunk size ffffffffffffffffff", post("chunk-ovf", b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\nx\r\n0\r\n\r\n" + SM)),
        ("chunk size 10000000000000001", post("chunk-ovf2", b"Transfer-Encoding: chunked\r\n", b"10000000000000001\r\nx\r\n0\r\n\r\n" + SM)),
        ("chunk size -1", post("chunk-neg", b"Transfer-Encoding: chunked\r\n", b"-1\r\nx\r\n0\r\n\r\n" + SM)),
        ("chunk size 0 x", post("chunk-junk", b"Transfer-Encoding: chunked\r\n", b"0 x\r\n\r\n" + SM)),
        ("chunk size 5 then junk", post("chunk-junk2", b"Transfer-Encoding: chunked\r\n", b"5 5\r\nhello\r\n0\r\n\r\n" + SM)),
        ("chunk data overrun", post("chunk-over", b"Transfer-Encoding: chunked\r\n", b"3\r\nhello\r\n0\r\n\r\n" + SM)),
        ("request line as trailer", post("trailer-req", b"Transfer-Encoding: chunked\r\n", b"0\r\n" + SM)),
        ("bare LF line endings", b"POST /case-lf HTTP/1.1\nHost: t\n" + cl(len(B)).replace(b"\r", b"") + b"\n" + B),
        ("bare LF hides TE", post("lf-te", b"X-A: b\nTransfer-Encoding: chunked\r\n" + cl(len(te_body)), te_body)),
        ("bare LF chunk lines", post("lf-chunk", b"Transfer-Encoding: chunked\r\n", b"0\n\n" + SM)),
        ("bare CR in a field", post("cr", b"X-A: b\rTransfer-Encoding: chunked\r\n" + cl(len(te_body)), te_body)),
        ("obs-fold on another field", post("fold", b"X-A: b\r\n x\r\n" + cl(len(B)), B)),
        ("NUL in a field value", post("nul", b"X-A: b\x00c\r\n" + cl(len(B)), B)),
        ("GET with a body", b"GET /case-get-body HTTP/1.1\r\n" + H + cl(len(SM)) + b"\r\n" + SM),
        ("space in request target", b"GET /case-sp HTTP/1.1 /smuggled HTTP/1.1\r\n" + H + b"\r\n"),
        ("CRLF in request target", b"GET /case-crlf\rGET /smuggled HTTP/1.1\r\n" + H + b"\r\n"),
    ]
    return cases


def records():
    try:
        with open(RECORD) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def send_raw(raw):
    """Sends raw, reads until the connection closes or 1.5 s pass quietly;
    returns the first status (or 'closed'/'timeout') and how many responses came."""
    s = socket.create_connection(ADDR, timeout=5)
    try:
        s.sendall(raw)
    except OSError:
        pass
    s.settimeout(1.5)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    except OSError:
        pass
    s.close()
    n = got.count(b"HTTP/1.1 ")
    if not got:
        return "closed", 0
    return got.split(b" ", 2)[1].decode(), n


def judge(name, status, seen):
    """Pass: no /smuggled, no injected field, at most one request forwarded;
    a 400/501/413/431 or a reset refuses; any other answer must be the one
    request forwarded."""
    refused = status in ("400", "501", "413", "431", "RST", "GOAWAY", "closed")
    if name.startswith("control"):
        # Not an attack: it must go through, or the other cases prove nothing.
        return not refused and len(seen) == 1 and seen[0].split()[2] in ("37", "40")
    # After METHOD PATH LENGTH: record_app's `inj` flag, or gunicorn's logged
    # X-Injected and X-A values.
    smuggled = [r for r in seen
                if "/smuggled" in r or any(f == "inj" or "injected" in f for f in r.lower().split()[3:])]
    if smuggled or len(seen) > 1:
        return False
    if refused:
        return True
    # Forwarded (whatever the app answered): exactly the one request.
    return status[:1] in ("2", "3", "4", "5") and len(seen) == 1


def run(cases, send):
    failed = 0
    rows = []
    for name, payload in cases:
        before = len(records())
        status, _ = send(payload)
        time.sleep(0.3)
        seen = records()[before:]
        ok = judge(name, status, seen)
        failed += not ok
        saw = "; ".join(" ".join(r.split()[:3]) for r in seen) if seen else "-"
        rows.append((name, status, f"{len(seen)} ({saw})", "ok" if ok else "FAIL"))
    w = max(len(r[0]) for r in rows)
    print(f"| {'case':<{w}} | ferry | upstream saw | |")
    print(f"| {'-' * w} | ----- | ------------ | - |")
    for r in rows:
        print(f"| {r[0]:<{w}} | {r[1]:<5} | {r[2]} | {r[3]} |")
    return failed


def h2_cases():
    long_body = b"x=" + SM
    return [
        ("control: h2 POST, content-length 37", [(":method", "POST"), (":path", "/case-h2-control"), ("content-length", "37")], long_body),
        ("h2 content-length 5, 37-byte DATA", [(":method", "POST"), (":path", "/case-h2-cl-short"), ("content-length", "5")], long_body),
        ("h2 content-length 99, 5-byte DATA", [(":method", "POST"), (":path", "/case-h2-cl-long"), ("content-length", "99")], b"x=abc"),
        ("h2 two content-length values", [(":method", "POST"), (":path", "/case-h2-cl-two"), ("content-length", "5"), ("content-length", "37")], b"x=abc"),
        ("h2 transfer-encoding: chunked", [(":method", "POST"), (":path", "/case-h2-te"), ("transfer-encoding", "chunked")], b"0\r\n\r\n" + SM),
        ("h2 CRLF in a field value", [(":method", "GET"), (":path", "/case-h2-crlf"), ("x-a", "b\r\nX-Injected: injected")], b""),
        ("h2 LF in a field value", [(":method", "GET"), (":path", "/case-h2-lf"), ("x-a", "b\nX-Injected: injected")], b""),
        ("h2 CR in a field value", [(":method", "GET"), (":path", "/case-h2-cr"), ("x-a", "b\rX-Injected: injected")], b""),
        ("h2 NUL in a field value", [(":method", "GET"), (":path", "/case-h2-nul"), ("x-a", "b\x00injected")], b""),
        ("h2 CRLF request in :path", [(":method", "GET"), (":path", "/case-h2-path HTTP/1.1\r\nHost: t\r\n\r\nGET /smuggled")], b""),
        ("h2 space in :path", [(":method", "GET"), (":path", "/case-h2-sp HTTP/1.1")], b""),
        ("h2 CRLF in :method", [(":method", "GET /smuggled HTTP/1.1\r\nX:"), (":path", "/case-h2-method")], b""),
        ("h2 colon in a field name", [(":method", "GET"), (":path", "/case-h2-name"), ("x-a:injected", "injected")], b""),
        ("h2 CRLF in a field name", [(":method", "GET"), (":path", "/case-h2-name2"), ("x-a\r\nx-injected", "injected")], b""),
        ("h2 connection: keep-alive", [(":method", "GET"), (":path", "/case-h2-conn"), ("connection", "keep-alive")], b""),
        ("h2 host CRLF", [(":method", "GET"), (":path", "/case-h2-host"), ("host", "t\r\nX-Injected: injected")], b""),
    ]


def send_h2(case):
    import h2.config
    import h2.connection
    import h2.events

    fields, body = case
    cfg = h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(ADDR, timeout=5), server_hostname="localhost")
    if s.selected_alpn_protocol() != "h2":
        return "no-h2", 0
    s.sendall(conn.data_to_send())
    base = [(":scheme", "http"), (":authority", "t")]
    hdrs = [(k.encode(), v.encode()) for k, v in base + fields]
    # Pseudo-fields first.
    hdrs.sort(key=lambda kv: not kv[0].startswith(b":"))
    conn.send_headers(1, hdrs, end_stream=not body)
    if body:
        conn.send_data(1, body, end_stream=True)
    try:
        s.sendall(conn.data_to_send())
    except OSError:
        return "closed", 0
    status = None
    s.settimeout(3)
    try:
        while status is None:
            data = s.recv(65536)
            if not data:
                status = status or "closed"
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers).get(b":status", b"?").decode()
                elif isinstance(ev, h2.events.StreamReset):
                    status = status or "RST"
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    status = status or "GOAWAY"
            out = conn.data_to_send()
            if out:
                s.sendall(out)
    except (socket.timeout, OSError):
        status = status or "timeout"
    except Exception as e:  # the h2 state machine refusing what the server sent
        status = status or type(e).__name__
    s.close()
    return status, 1


def main():
    if len(sys.argv) > 3 and sys.argv[3] == "h2":
        failed = run([(n, (f, b)) for n, f, b in h2_cases()], send_h2)
    else:
        failed = run(h1_cases(), send_raw)
    print(f"{failed} case(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
