#!/usr/bin/env bash
# A real browser against `ferry serve --browse`: headless Chromium (Debian's chromium
# and chromium-driver, driven with selenium) opens the listing, follows a link to a
# file, reloads it, and ferry's access log must show the reload answered 304;
# then a single-page app's deep link loads through --fallback.
# SCREENSHOT=path saves a picture of the listing.
source "$(dirname "$0")/../lib/common.sh"
need_chromium

FERRY=$(ferry_bin)
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/site/docs/guides" "$WORK/site/docs/.hidden"
printf 'Hello from ferry.\n' >"$WORK/site/docs/readme.txt"
printf 'a,b\n1,2\n' >"$WORK/site/docs/data.csv"
head -c 150000 /dev/zero >"$WORK/site/docs/archive.bin"
printf 'x' >"$WORK/site/docs/<img src=x onerror=alert(1)>.txt"
printf 'ü' >"$WORK/site/docs/Grüße aus Köln.txt"
touch -d '2025-03-01 12:00:00' "$WORK/site/docs/"*
start_ferry "$WORK/ferry.log" serve "$WORK/site" --browse

check "chromium: listing, link, reload answered 304" \
  "$VENV/bin/python" - "$FERRY_URL" "${SCREENSHOT:-}" "$WORK/ferry.log" <<'PY'
import sys, time
from chromium import driver
from selenium.webdriver.common.by import By

url, shot, log = sys.argv[1], sys.argv[2], sys.argv[3]
drv = driver("--window-size=900,520")
alerts = []
try:
    drv.get(url + "/docs/")
    assert "Index of /docs/" in drv.title, drv.title
    names = [a.text for a in drv.find_elements(By.CSS_SELECTOR, "td a")]
    assert "<img src=x onerror=alert(1)>.txt" in names, names
    assert not any(".hidden" in n for n in names), names
    try:
        drv.switch_to.alert
        alerts.append("alert ran")
    except Exception:
        pass
    assert not alerts, "the hostile name ran as markup"
    if shot:
        drv.save_screenshot(shot)
    drv.find_element(By.LINK_TEXT, "readme.txt").click()
    assert "Hello from ferry." in drv.page_source
    time.sleep(1.2)
    drv.refresh()
    assert "Hello from ferry." in drv.page_source
    time.sleep(0.5)
finally:
    drv.quit()
lines = [l for l in open(log) if '"GET /docs/readme.txt"' in l]
print("\n".join(lines))
assert len(lines) >= 2, lines
assert " 200 " in lines[0] and " 304 " in lines[-1], lines
PY

# A single-page app through --fallback: a deep link loads index.html (200),
# whose script renders the route; a file request still gets the 404 page.
mkdir -p "$WORK/spa"
cat >"$WORK/spa/index.html" <<'HTML'
<!doctype html><title>spa</title><h1 id=view>loading</h1><script src="/app.js"></script>
HTML
cat >"$WORK/spa/app.js" <<'JS'
document.getElementById("view").textContent = "route " + location.pathname;
JS
printf '<!doctype html><title>not found</title>\n' >"$WORK/spa/404.html"
start_ferry "$WORK/spa.log" serve "$WORK/spa" --fallback /index.html --error-page 404=/404.html

check "chromium: an SPA deep link loads the app through the fallback" \
  "$VENV/bin/python" - "$FERRY_URL" "$WORK/spa.log" <<'PY'
import sys, time
from chromium import driver
from selenium.webdriver.common.by import By

url, log = sys.argv[1], sys.argv[2]
drv = driver()
try:
    drv.get(url + "/users/7/settings")
    view = drv.find_element(By.ID, "view").text
    assert view == "route /users/7/settings", view
    drv.get(url + "/missing.png")
    assert drv.title == "not found", drv.title
    time.sleep(0.3)
finally:
    drv.quit()
text = open(log).read()
print(text)
assert '"GET /users/7/settings" 200 ' in text, text
assert '"GET /app.js" 200 ' in text, text
assert '"GET /missing.png" 404 ' in text, text
PY
finish
