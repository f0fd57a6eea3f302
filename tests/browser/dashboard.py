"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium.

Usage: dashboard.py EVSERVE_BINARY SCENARIO [SCREENSHOT]
  load     the page loads with no console error, and its numbers rise under `evserve load`
           (a screenshot is written to SCREENSHOT, if given, while the load runs)
  chat     a line typed in the page reaches a raw TCP chat client, and one from it the page
  restart  the page keeps working after the server restarts: the event stream reconnects
  h2       over HTTPS the page is fetched with HTTP/2 (`nextHopProtocol` is "h2", chosen by
           ALPN), and its event stream is live on that connection

Each scenario starts its own server on loopback (port 0, learned from the log), prints
"<scenario> ok" and exits 0, or raises. Every wait is bounded and waits on a fact.
"""
import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 20  # seconds, for anything the page must do


class Server:
    """`evserve serve` on loopback, its addresses read from its log."""

    def __init__(self, binary, http="127.0.0.1:0", chat="127.0.0.1:0", extra=(), listeners=2):
        self.proc = subprocess.Popen(
            [binary, "serve", "--http", http, "--chat", chat, "--access-log", "false", *extra],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "info"})
        self.addr = {}
        deadline = time.monotonic() + WAIT
        while len(self.addr) < listeners:
            line = self.proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"evserve did not start: {line!r}")
            m = re.search(r"listening (\w+) tcp (\S+)", line)
            if m:
                self.addr[m.group(1)] = m.group(2)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(WAIT)


def spki_hash(cert):
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it (computed with the openssl CLI)."""
    pubkey = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                            check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def browser(flags=()):
    options = Options()
    options.binary_location = CHROMIUM
    for flag in [*flags, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900",
                 "--user-data-dir=" + tempfile.mkdtemp(prefix="evserve-chromium-")]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def until(driver, what, check):
    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(
        lambda d: check(d), message=f"waiting for {what}")


def snapshots(driver):
    return driver.execute_script("return window.evserve ? window.evserve.snapshots : 0")


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def number(text):
    """'1.2k' -> 1200.0; '–' -> 0."""
    m = re.match(r"([\d.]+)([kMGT]?)", text)
    if not m:
        return 0.0
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]


def scenario_load(binary, screenshot):
    server = Server(binary)
    driver = browser()
    try:
        driver.get(f"http://{server.addr['http']}/dashboard")
        until(driver, "the event stream to be live",
              lambda d: d.find_element(By.ID, "status").text == "live")
        until(driver, "two snapshots", lambda d: snapshots(d) >= 2)
        before = driver.execute_script("return window.evserve.last")
        # The page explains itself: every chart has labelled axes, with units, and every
        # figure of the loop table says in a line what it counts.
        axes = driver.execute_script("return window.evserve.axes")
        for chart in ["chart-throughput", "chart-events", "chart-histogram"]:
            assert chart in axes, f"{chart} drew no axes: {axes}"
        assert {"\u221260 s", "now"} <= set(axes["chart-throughput"]), axes
        assert any("req/s" in t for t in axes["chart-throughput"]), axes
        assert any("KiB/s" in t for t in axes["chart-throughput"]), axes
        assert "512+" in axes["chart-histogram"], axes
        for row in driver.find_elements(By.CSS_SELECTOR, "#loop tbody tr"):
            cells = row.find_elements(By.TAG_NAME, "td")
            assert cells[2].text.strip(), f"{cells[0].text} has no meaning shown"
        timers = [r for r in driver.find_elements(By.CSS_SELECTOR, "#loop tbody tr")
                  if r.text.startswith("timer entries")]
        assert timers and "stale" in timers[0].text, "timers say what they count" 
        # A longer run for a picture, so that the charts have a history to show.
        duration = "14s" if screenshot else "4s"
        load = subprocess.Popen(
            [binary, "load", f"http://{server.addr['http']}/plain", "-c", "8", "-d", duration],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The page's own requests/s figure must show the load.
        until(driver, "requests/s to rise under load",
              lambda d: number(d.find_element(By.ID, "rps").text) > 100)
        until(driver, "the throughput chart to have points",
              lambda d: d.execute_script("return Math.max(0, ...window.evserve.rps)") > 100)
        if screenshot:
            host, port = server.addr["chat"].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=WAIT) as tcp:
                tcp.sendall(b"hello from nc: the dashboard is in the chat room too\n")
                until(driver, "the line in the page",
                      lambda d: "hello from nc" in d.find_element(By.ID, "chat-log").text)
                time.sleep(10)  # a picture: let the charts fill (not a wait for a fact)
                driver.save_screenshot(screenshot)
        load.wait(WAIT)
        after = driver.execute_script("return window.evserve.last")
        for key in ["polls", "events", "reads", "writes", "accepted", "bytes_out"]:
            assert after[key] > before[key], f"{key} did not rise: {before[key]} -> {after[key]}"
        assert after["requests"]["2xx"] > before["requests"]["2xx"] + 100
        loop_rows = driver.find_elements(By.CSS_SELECTOR, "#loop tbody tr")
        assert len(loop_rows) >= 10, "the loop table is there"
        # The connections table (GET /connections every 2 s): the page's own event stream is
        # an open http connection there, with its kernel figures.
        until(driver, "the connections table to list the page's event stream",
              lambda d: d.execute_script(
                  "const c = window.evserve.conns; return !!c && c.connections.some("
                  "r => r.service === 'http' && r.tcp_info && r.tcp_info.snd_cwnd > 0)"))
        conn_rows = driver.find_elements(By.CSS_SELECTOR, "#conns tbody tr")
        assert any("http" in r.text for r in conn_rows), "the table shows them"
        errors = console_errors(driver)
        assert not errors, f"console errors: {errors}"
    finally:
        driver.quit()
        server.stop()
    print("load ok")


def scenario_chat(binary, _):
    server = Server(binary)
    driver = browser()
    try:
        driver.get(f"http://{server.addr['http']}/dashboard")
        until(driver, "the page to join the chat room",
              lambda d: d.find_element(By.ID, "chat-status").text == "in the room")
        host, port = server.addr["chat"].rsplit(":", 1)
        tcp = socket.create_connection((host, int(port)), timeout=WAIT)
        lines = tcp.makefile("rb")
        until(driver, "the TCP client's join notice in the page",
              lambda d: " joined" in d.find_element(By.ID, "chat-log").text)
        box = driver.find_element(By.ID, "chat-input")
        box.send_keys("hello from chromium")
        driver.find_element(By.ID, "chat-send").click()
        line = lines.readline().decode()
        assert line.endswith(": hello from chromium\n"), line
        tcp.sendall(b"hello from nc\n")
        until(driver, "the TCP line in the page, as an entry of its own",
              lambda d: any(li.text.endswith(": hello from nc")
                            for li in d.find_elements(By.CSS_SELECTOR, "#chat-log li")))
        errors = console_errors(driver)
        assert not errors, f"console errors: {errors}"
        tcp.close()
    finally:
        driver.quit()
        server.stop()
    print("chat ok")


def scenario_restart(binary, _):
    server = Server(binary)
    http = server.addr["http"]
    driver = browser()
    try:
        driver.get(f"http://{http}/dashboard")
        until(driver, "the event stream to be live",
              lambda d: d.find_element(By.ID, "status").text == "live")
        until(driver, "the chat", lambda d: d.find_element(By.ID, "chat-status").text == "in the room")
        server.stop()
        until(driver, "the page to notice the server is gone",
              lambda d: d.find_element(By.ID, "status").text == "reconnecting")
        server = Server(binary, http=http)
        seen = snapshots(driver)
        until(driver, "the event stream to reconnect",
              lambda d: d.find_element(By.ID, "status").text == "live")
        until(driver, "snapshots from the new server", lambda d: snapshots(d) >= seen + 2)
        until(driver, "the chat to rejoin",
              lambda d: d.find_element(By.ID, "chat-status").text == "in the room")
        accepted = driver.execute_script("return window.evserve.last.accepted")
        assert accepted < 50, f"counters come from the new server ({accepted})"
    finally:
        driver.quit()
        server.stop()
    print("restart ok")


def scenario_h2(binary, _):
    certs = tempfile.mkdtemp(prefix="evserve-h2-")
    server = Server(binary, extra=["--https", "127.0.0.1:0", "--tls-self-signed-out", certs],
                    listeners=3)
    # Only this server's self-signed key is trusted: not every certificate error ignored.
    spki = spki_hash(os.path.join(certs, "cert.pem"))
    driver = browser([f"--ignore-certificate-errors-spki-list={spki}"])
    try:
        port = server.addr["https"].rsplit(":", 1)[1]
        driver.get(f"https://localhost:{port}/dashboard")
        protocol = driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        assert protocol == "h2", f"the page came over {protocol!r}, not h2"
        # The page's event stream shares that HTTP/2 connection: it is a stream on it, not a
        # connection of its own, and it must tick there.
        until(driver, "the event stream to be live over h2",
              lambda d: d.find_element(By.ID, "status").text == "live")
        until(driver, "two snapshots over h2", lambda d: snapshots(d) >= 2)
        last = driver.execute_script("return window.evserve.last")
        assert last["http2_connections"] >= 1, last
        assert last["http2_streams"] >= 2, f"the page and its event stream: {last}"
        errors = console_errors(driver)
        assert not errors, f"console errors: {errors}"
    finally:
        driver.quit()
        server.stop()
    print(f"h2 ok: nextHopProtocol {protocol}")


if __name__ == "__main__":
    binary, name = sys.argv[1], sys.argv[2]
    shot = sys.argv[3] if len(sys.argv) > 3 else None
    scenarios = {"load": scenario_load, "chat": scenario_chat, "restart": scenario_restart,
                 "h2": scenario_h2}
    scenarios[name](binary, shot)
