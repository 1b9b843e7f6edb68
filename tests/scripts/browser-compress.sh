#!/usr/bin/env bash
# A real browser against ferry's on-the-fly compression: headless Chromium
# (Debian's chromium and chromium-driver, driven with selenium) loads a page
# whose stylesheet has no precompressed sibling; the style must apply (the
# computed colour and width of a probe element), and ferry's JSON access log
# must show the stylesheet went out with the Content-Encoding it chose (zstd,
# br or gzip, whichever Chromium asked for first), decoded by the browser.
source "$(dirname "$0")/../lib/common.sh"
need_chromium

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site"
cat >"$WORK/site/index.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>compressed css</title>
<link rel="stylesheet" href="/app.css"></head>
<body><div id="probe">styled by a stylesheet compressed on the fly</div></body></html>
HTML
{
  printf '#probe { color: rgb(12, 34, 56); width: 321px; }\n'
  for i in $(seq 1 400); do
    printf '.card-%d { margin: %dpx; padding: %dpx %dpx; border-radius: %dpx; }\n' \
      "$i" $((i % 13)) $((i % 7)) $((i % 5)) $((i % 3))
  done
} >"$WORK/site/app.css"
start_ferry "$WORK/ferry.log" serve "$WORK/site" --access-log-format json

check "chromium: a stylesheet compressed on the fly applies, and the log names its coding" \
  "$VENV/bin/python" - "$FERRY_URL" "$WORK/ferry.log" "$WORK/site/app.css" <<'PY'
import json, sys, time
from chromium import driver
from selenium.webdriver.common.by import By

url, log, css = sys.argv[1], sys.argv[2], sys.argv[3]
drv = driver("--window-size=900,520")
try:
    drv.get(url + "/")
    probe = drv.find_element(By.ID, "probe")
    color = probe.value_of_css_property("color")
    width = drv.execute_script("return getComputedStyle(arguments[0]).width", probe)
    print("computed:", color, width)
    assert color in ("rgba(12, 34, 56, 1)", "rgb(12, 34, 56)"), color
    assert width == "321px", width
    # What the browser decoded is the file: its text, fetched back in the page.
    text = drv.execute_script(
        "const r = await fetch('/app.css'); return await r.text();")
    assert text == open(css).read(), "the decoded stylesheet differs from the file"
    time.sleep(0.3)
finally:
    drv.quit()
entries = []
for line in open(log):
    line = line.strip()
    if line.startswith("{"):
        entries.append(json.loads(line))
css_lines = [e for e in entries if e["target"] == "/app.css" and e["status"] == 200]
print("\n".join(json.dumps(e) for e in css_lines))
assert css_lines, entries
coding = css_lines[0]["content_encoding"]
assert coding in ("zstd", "br", "gzip"), css_lines[0]
size = len(open(css, "rb").read())
assert css_lines[0]["bytes"] < size // 2, (css_lines[0]["bytes"], size)
print(f"app.css: {size} bytes sent as {coding} in {css_lines[0]['bytes']} bytes")
PY
finish
