"""Headless Chromium on this machine, for the web page's tests and ``benchmarks/browser_speed.py``.

``serve(folder)`` serves a folder on 127.0.0.1 from a thread (the page's ES modules need http, not file://);
``chromium(profile)`` starts Debian's Chromium through its chromedriver with Selenium. ``missing()`` says in one
line what to install when either is absent. Imports no torch; Selenium only when a browser is started.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import shutil
import threading
from pathlib import Path
from typing import Iterator

INSTALL = "apt-get install chromium chromium-driver; pip install selenium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".vcz": "application/octet-stream", ".onnx": "application/octet-stream", ".bin": "application/octet-stream"}


def executables() -> tuple[str | None, str | None]:
    """The paths of Chromium and of its chromedriver (None for one not installed)."""
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


def missing() -> str | None:
    """None when Selenium, Chromium and chromedriver are installed, else one line saying what to install."""
    absent = [name for name, found in zip(("chromium", "chromedriver"), executables()) if not found]
    if importlib.util.find_spec("selenium") is None:
        absent.append("selenium")
    return f"needs {', '.join(absent)}: {INSTALL}" if absent else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}
    isolated = False

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # every page load is a real load
        if self.isolated:  # cross-origin isolation: performance.now() ticks every 5 us instead of 100 us
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


class _IsolatedHandler(_QuietHandler):
    isolated = True


@contextlib.contextmanager
def serve(folder: str | Path, isolated: bool = False) -> Iterator[str]:
    """Serve ``folder`` over http on 127.0.0.1 (a free port) while the block runs; yields the base URL. With
    ``isolated`` the pages are cross-origin isolated, so that their clock is fine enough to time one call."""
    handler = functools.partial(_IsolatedHandler if isolated else _QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium(profile: str | Path, script_timeout: float = 120):
    """A headless Chromium (Selenium ``webdriver.Chrome``) with a fresh profile folder ``profile``; quit it after
    use. Raises ``RuntimeError`` naming what to install when the browser, its driver or Selenium is missing."""
    reason = missing()
    if reason:
        raise RuntimeError(f"headless Chromium {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = executables()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1000,1000"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_script_timeout(script_timeout)
    return chrome
