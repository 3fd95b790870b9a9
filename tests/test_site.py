"""The course as a website (``scripts/build_site.sh``, ``docs/conf.py``).

The site is built once, as the script builds it (Sphinx with warnings as errors), into a temporary folder.
Then: every notebook has a page whose launch buttons name that notebook, the explorers show their still and
no widget JavaScript, the API reference lists every public name, every link and image inside the site
resolves, and in headless Chromium (Debian's ``chromium``, as in test_browser.py) every page shows its title,
its figures and its formulas with no console error and no failed request: the site works with no network.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import cam_helpers

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / ".ci-cache" / "screenshots" / "site"
STILL_TEXT = "first view. Its controls move in a running notebook"   # docs/conf.py's line under each still


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # the command of scripts/build_site.sh, in this environment (the script would first run install.sh)
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                          str(ROOT / "docs"), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, f"the site did not build:\n{run.stderr[-4000:]}"
    assert "WARNING" not in run.stderr and "ERROR" not in run.stderr, run.stderr[-4000:]
    return out


class Page(HTMLParser):
    """What the tests read from a built page: links, image sources, ids, and the text of the first <h1>."""

    def __init__(self, path: Path):
        super().__init__()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.ids: set[str] = set()
        self.h1 = ""
        self._in_h1 = False
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            self.sources.append(a["src"])
        if tag == "link" and a.get("href"):
            self.sources.append(a["href"])
        if tag == "h1" and not self.h1:
            self._in_h1 = True

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.h1 += data


def explorers(notebook: Path) -> int:
    """Widget outputs saved with a picture (the explorers; tqdm's progress bars have none)."""
    nb = json.loads(notebook.read_text())
    return sum(WIDGET in o.get("data", {}) and "image/png" in o["data"] for c in nb["cells"] for o in c.get("outputs", []))


def test_every_notebook_has_a_page_whose_buttons_open_that_notebook(site):
    repo = urlsplit(cam_helpers.REPO_URL).path.strip("/")   # owner/name
    assert len(NOTEBOOKS) == 8
    for notebook in NOTEBOOKS:
        page_path = site / "notebooks" / f"{notebook.stem}.html"
        page = Page(page_path)
        path = f"notebooks/{notebook.name}"
        assert f"https://colab.research.google.com/github/{repo}/blob/main/{path}" in page.links, notebook.stem
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{path}" in page.links, notebook.stem
        download = f"../_sources/{path}"
        assert download in page.links, notebook.stem
        served = json.loads((page_path.parent / download).read_text())   # the notebook, outputs and all
        original = json.loads(notebook.read_text())
        code = [c["source"] for c in original["cells"] if c["cell_type"] == "code"]
        assert [c["source"] for c in served["cells"] if c["cell_type"] == "code"] == code
        assert page.h1.strip().startswith(notebook.stem[:2]), (notebook.stem, page.h1)


def test_explorers_are_shown_as_their_still_with_a_line_on_running_them(site):
    shown = 0
    for notebook in NOTEBOOKS:
        html = (site / "notebooks" / f"{notebook.stem}.html").read_text()
        assert "widget-view" not in html and "require.min.js" not in html and "embed-amd" not in html
        assert html.count(STILL_TEXT) == explorers(notebook), notebook.stem
        assert "it/s]" not in html, notebook.stem   # no progress bar frozen at its first frame
        shown += explorers(notebook)
    assert shown >= 6   # 01, 02 (two), 03, 04, 08


def test_the_api_reference_lists_every_public_name(site):
    ids = Page(site / "api.html").ids
    missing = [name for name in cam_helpers.__all__
               if f"cam_helpers.{name}" not in ids and f"module-cam_helpers.{name}" not in ids]   # ch.registry: a module
    assert not missing, f"not in the API reference: {missing}"
    for module in ("metrics", "viz", "photos", "vit", "pixels", "data", "models", "sanity", "stats"):
        assert any(i.startswith("module-cam_helpers.") and i.endswith(f".{module}") for i in ids), module


def test_every_link_and_image_inside_the_site_resolves(site):
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)   # _static: the theme's templates
    assert len(pages) > 12
    parsed = {p: Page(p) for p in pages}
    broken = []
    for path, page in parsed.items():
        for ref in page.links + page.sources:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "javascript:")) or "{{" in ref:   # theme templates
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {ref}")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else Page(target).ids
                if parts.fragment not in ids:
                    broken.append(f"{path.relative_to(site)}: {ref} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


@pytest.fixture(scope="module")
def served(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here: apt-get install chromium")
def test_every_page_in_a_browser_offline(site, served):
    from playwright.sync_api import sync_playwright
    pages = ["index.html", "TEACHING.html", "glossary.html", "api.html", "genindex.html", "search.html",
             *[f"notebooks/{n.stem}.html" for n in NOTEBOOKS]]
    with_figures = {"index.html", *[f"notebooks/{n.stem}.html" for n in NOTEBOOKS]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        # a request the browser gave up itself (net::ERR_ABORTED: a favicon still loading as the page settles) is
        # not a missing file; those show as HTTP errors below, or as other failures
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} ({r.failure})")
                if "ERR_ABORTED" not in (r.failure or "") else None)
        page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        for name in pages:
            errors.clear()
            page.goto(f"{served}/{name}", wait_until="load", timeout=60_000)
            page.wait_for_load_state("networkidle", timeout=60_000)
            title = page.evaluate("() => Array.from(document.querySelectorAll('main h1'))"
                                  ".map(h => h.innerText.trim()).find(t => t) || ''")
            images = page.evaluate("""() => Array.from(document.querySelectorAll('article img')).map(
                i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])""")
            if not title:
                problems.append(f"{name}: no title")
            if name in with_figures and not images:
                problems.append(f"{name}: no figure")
            problems += [f"{name}: image not shown: {src}" for src, ok in images if not ok]
            if page.locator("span.math, div.math").count():   # formulas: typeset by the site's own MathJax
                page.wait_for_function("() => window.MathJax && MathJax.startup && "
                                       "document.querySelectorAll('mjx-container svg').length > 0",
                                       timeout=60_000)
            page.screenshot(path=str(SHOTS / f"{name.replace('/', '_')}.png"))
            problems += [f"{name}: {e}" for e in errors]
        browser.close()
    assert not problems, "\n".join(problems[:30])
