"""Headless Chromium for the tests that open pages as a reader would: every request a page makes is recorded,
so a test can say that nothing left the machine.

Debian's ``chromium`` (``/usr/bin/chromium``) driven by the ``playwright`` package; Playwright's own browser
download is not used. ``needs_chromium`` skips, naming what is missing, where either is absent.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# no update checks, safe-browsing lists, crash reports or field trials: the browser itself must stay quiet too
QUIET = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-first-run", "--disable-breakpad", "--disable-domain-reliability",
         "--disable-features=OptimizationHints,MediaRouter,Translate", "--no-sandbox"]


def _missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[site]')"
    return None


needs_chromium = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def leaves_machine(url: str) -> bool:
    """True when fetching ``url`` would reach a host other than this machine (data:, blob:, about: and
    file: URLs never do)."""
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about", "file", "chrome-error", "devtools"):
        return False
    return parsed.hostname not in LOCAL_HOSTS


@contextmanager
def browser():
    """One headless Chromium; ``page(requests, errors)`` opens a tab that appends every URL it requests to
    ``requests``, and to ``errors`` every uncaught script error and every failed load (HTTP status >= 400 or
    no answer; the favicon Chromium asks every site for aside)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        context = chromium.new_context(viewport={"width": 1100, "height": 800})

        def page(requests: list[str], errors: list[str]):
            tab = context.new_page()
            tab.on("request", lambda request: requests.append(request.url))
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.on("requestfailed", lambda request: errors.append(f"{request.url}: {request.failure}"))
            tab.on("response", lambda response: errors.append(f"{response.url}: HTTP {response.status}")
                   if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
            return tab

        try:
            yield page
        finally:
            chromium.close()
