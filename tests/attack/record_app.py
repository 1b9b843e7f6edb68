"""A recording WSGI app, the upstream of tests/scripts/smuggle.sh and
faults.sh: every request it receives is appended to $RECORD_FILE as one line
`METHOD PATH BODY_LENGTH FLAGS`, FLAGS being `inj` when any header value carries
the word "injected" (a field smuggled through a CR/LF), else `-`. Answers
`200 ok`. Run under gunicorn's gthread workers so connections are kept alive
(with sync workers, gunicorn closes after each request and would drop smuggled
bytes itself, hiding a desync).

    RECORD_FILE=/tmp/rec gunicorn -k gthread --threads 4 --chdir tests/attack record_app:app
"""
import os
import threading

LOCK = threading.Lock()
RECORD = os.environ.get("RECORD_FILE", "/dev/null")


def app(environ, start_response):
    body = environ["wsgi.input"]
    n = 0
    while True:
        chunk = body.read(65536)
        if not chunk:
            break
        n += len(chunk)
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
    flags = "-"
    for k, v in environ.items():
        if k.startswith("HTTP_") and "injected" in str(v).lower():
            flags = "inj"
    line = f"{environ['REQUEST_METHOD']} {path.replace(' ', '%20')} {n} {flags}\n"
    with LOCK, open(RECORD, "a") as f:
        f.write(line)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
