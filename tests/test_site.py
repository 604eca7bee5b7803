"""The course website: ``make site``'s Sphinx build, served on localhost and read in headless Chromium. Every page
renders, every image loads, no internal link or anchor is broken, every formula is MathML, stored widgets render,
and no request leaves the machine. ``slow``: the build alone takes half a minute on two cores.

Set FUSE_EDU_SITE to an already built site (``site/html`` after ``make site``) to check it instead of building one.
"""

from __future__ import annotations

import functools
import html
import os
import re
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import nbformat
import pytest

from tests.browser import browser, leaves_machine, needs_chromium

ROOT = Path(__file__).resolve().parent.parent
WALK_THROUGHS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
PAGES = ["docs/course.html", "README.html", "docs/deviations.html", "docs/assignments.html", "docs/site/api.html",
         "notebooks/report.html",
         *(f"notebooks/{name}.html" for name in WALK_THROUGHS)]
# as `make site` runs it: make-mode keeps everything Sphinx and myst-nb write inside the output folder
SPHINX = [sys.executable, "-m", "sphinx", "-M", "html", "."]
SPHINX_OPTIONS = ["-c", "docs/site", "-q"]

pytestmark = [pytest.mark.slow, needs_chromium]


def _page_warnings(log: str) -> list[str]:
    """Warnings about the site's own pages (broken references, bad markup); docstrings' reST slips are autodoc's."""
    return [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line
            if "docstring of" not in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if os.environ.get("FUSE_EDU_SITE"):
        return Path(os.environ["FUSE_EDU_SITE"])
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    done = subprocess.run([*SPHINX, str(out), *SPHINX_OPTIONS], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    print(f"site built in {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _page_warnings(done.stderr) == [], "\n".join(_page_warnings(done.stderr))
    return out / "html"


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports what matters; the access log is noise
        pass


def _ids(path: Path) -> set[str]:
    return {html.unescape(i) for i in re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8"))}


def test_every_page_is_built(site):
    assert [page for page in PAGES if not (site / page).is_file()] == []
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'url=docs/course.html' in home, "the site's root opens the course map"
    assert not (site / "notebooks" / "assignments").exists()
    answers = _solution_lines()
    assert len(answers) >= 10
    leaks = [(p.name, line) for p in site.rglob("*.html")
             for text in [html.unescape(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8")))]
             for line in answers if line in text]
    assert leaks == [], "the site never shows an assignment's solutions"


def _solution_lines() -> set[str]:
    """The distinctive lines of every instructor solution (inside BEGIN/END SOLUTION, 25 characters or more) that
    no walk-through shows anyway."""
    lines = set()
    for path in (ROOT / "notebooks" / "assignments" / "source").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for region in re.findall(r"BEGIN SOLUTION[^\n]*\n(.*?)\n[^\n]*END SOLUTION", cell.source, flags=re.S):
                lines |= {line.strip() for line in region.split("\n") if len(line.strip()) >= 25}
    taught = "\n".join(cell.source for path in (ROOT / "notebooks").glob("*.ipynb")
                       for cell in nbformat.read(path, as_version=4).cells)
    return {line for line in lines if line not in taught}


def test_every_page_renders_offline_with_its_images_links_formulas_and_widgets(site, server):
    requests, errors, broken, problems = [], [], [], []
    with browser() as page:
        tab = page(requests, errors)
        tab.goto(server)  # the root redirects to the course map
        tab.wait_for_url("**/docs/course.html")
        for name in PAGES:
            response = tab.goto(urljoin(server, name), wait_until="load")
            assert response is not None and response.status == 200, name
            text = tab.inner_text("article")
            if len(text) < 200:
                problems.append(f"{name}: the article has {len(text)} characters")
            images = tab.evaluate("[...document.images].map(i => [i.currentSrc, i.complete && i.naturalWidth > 0])")
            problems += [f"{name}: image {src} did not load" for src, ok in images if not ok]
            raw = tab.evaluate("[...document.querySelectorAll('article p, article li')]"
                               ".filter(e => /\\$[^$]*[\\\\^{][^$]*\\$/.test(e.textContent)).length")  # TeX as text
            if raw:
                problems.append(f"{name}: {raw} paragraphs still show $...$ as text")
            if name.startswith("notebooks/") and _has_widget_state(name):
                tab.wait_for_selector(".jupyter-widgets .widget-box, .jupyter-widgets .widget-inline-hbox",
                                      timeout=15_000)
            for href in tab.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
                target = urlparse(href)
                if target.netloc != urlparse(server).netloc:
                    continue
                file = site / unquote(target.path).lstrip("/")
                file = file / "index.html" if file.is_dir() else file
                if not file.is_file():
                    broken.append(f"{name} -> {href}")
                elif target.fragment and file.suffix == ".html" and unquote(target.fragment) not in _ids(file):
                    broken.append(f"{name} -> {href} (no such anchor)")
    assert problems == [] and sorted(set(broken)) == [], "\n".join(problems + sorted(set(broken)))
    assert [url for url in requests if leaves_machine(url)] == [], "nothing is fetched from the network"
    assert errors == []


def test_the_api_reference_is_built_from_the_docstrings(site):
    api = (site / "docs" / "site" / "api.html").read_text(encoding="utf-8")
    for name in ("fuse_edu.tensor.tprod", "fuse_edu.adapter.FuseTranslator", "fuse_edu.optim.gcg.GCG",
                 "fuse_edu.report.export_html"):
        assert f'id="{name}"' in api, name


def test_formulas_are_mathml_and_the_math_pages_have_them(site):
    algebra = (site / "notebooks" / "02_tensor_algebra.html").read_text(encoding="utf-8")
    assert algebra.count("<math") > 50 and not re.search(r"<script[^>]+src=\"[^\"]*mathjax", algebra, re.I)


def _has_widget_state(page: str) -> bool:
    notebook = ROOT / "notebooks" / (Path(page).stem + ".ipynb")
    state = nbformat.read(notebook, as_version=4).metadata.get("widgets", {})
    return bool(state.get("application/vnd.jupyter.widget-state+json", {}).get("state"))
