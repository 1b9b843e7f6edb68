"""Headless Chromium (Debian's, through chromedriver) as every browser test
starts it; `need_chromium` in common.sh installs it and puts this on the path."""
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

QUIET = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def driver(*args):
    """A browser with the quiet defaults and `args`; QUIC is off unless
    `--enable-quic` is among them."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    extra = list(args)
    if "--enable-quic" not in extra:
        extra.append("--disable-quic")
    for a in QUIET + extra:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
