"""The course as a website (Sphinx, myst-nb, sphinx-book-theme): ``bash scripts/build_site.sh``.

Built from the committed notebooks and their outputs: nothing is executed, so the site builds in seconds and
offline. The notebooks are copied into ``docs/notebooks/`` (git ignores the copy) so that each page keeps its
repository path, and with it the right Colab and Binder links. MathJax is served from the site itself
(``sphinx-mathjax-offline``), so pages render their formulas without a network, as in a classroom.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import cam_helpers  # noqa: E402

project = "Explaining image classifiers with Class Activation Mapping"
author = "The CAM course authors"
copyright = "2026, the CAM course authors (code MIT, course text CC BY 4.0)"
release = version = cam_helpers.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"
nitpicky = False

# --- the notebooks: as committed, never executed here -------------------------------------------------------
nb_execution_mode = "off"
nb_ipywidgets_js: dict = {}   # no widget JavaScript from a CDN: an explorer shows the still saved with it
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]   # the still instead
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]   # the widget views dropped above, on purpose

STILL = ("*Above: a still of the explorer's first view. Its controls move in a running notebook: run it locally "
         "(`bash scripts/open_course.sh`) or open it in Colab with the rocket button at the top of this page.*")


WIDGET = "application/vnd.jupyter.widget-view+json"
BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\(([^)]+)\)")


def copy_notebooks() -> None:
    """notebooks/*.ipynb -> docs/notebooks/ (git ignores the copies): each explorer followed by one line on
    running it live, progress bars left out."""
    out = DOCS / "notebooks"
    out.mkdir(exist_ok=True)
    wanted = set()
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(source.read_text())
        cells = []
        for cell in nb["cells"]:
            cells.append(cell)
            if "outputs" in cell:   # a progress bar's saved view is its first frame ("0%"): not worth a line
                cell["outputs"] = [o for o in cell["outputs"] if not (WIDGET in o.get("data", {})
                                                                      and "image/png" not in o["data"])]
            if any(WIDGET in o.get("data", {}) for o in cell.get("outputs", [])):   # an explorer and its still
                cells.append({"cell_type": "markdown", "id": f"explorer-still-{len(cells)}", "metadata": {},
                              "source": [STILL]})
        for cell in cells:   # the badge's image lives on colab's server: a plain link works offline too
            if cell["cell_type"] == "markdown":
                cell["source"] = [BADGE.sub(r"[Open in Colab](\1)", line) for line in cell["source"]]
        nb["cells"] = cells
        nb["metadata"].pop("widgets", None)   # the explorers' saved state: a still stands in for it here
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        target = out / source.name
        wanted.add(target)
        if not target.exists() or target.read_text() != text:   # unchanged copies keep Sphinx's cache
            target.write_text(text)
    for stale in set(out.glob("*.ipynb")) - wanted:
        stale.unlink()


def landing_figure() -> None:
    """The landing page's figure: the still saved with notebook 02's explorer on a photo (its committed run)."""
    import base64
    nb = json.loads((ROOT / "notebooks" / "02_gradcam_from_scratch.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "photo_explorer = CAMExplorer" in "".join(c["source"]))
    png = base64.b64decode(next(o["data"]["image/png"] for o in cell["outputs"] if "image/png" in o.get("data", {})))
    target = DOCS / "generated" / "landing.png"
    target.parent.mkdir(exist_ok=True)
    if not target.exists() or target.read_bytes() != png:
        target.write_bytes(png)


copy_notebooks()
landing_figure()

# --- the theme: launch buttons that open the notebook at its path in the repository -------------------------
html_theme = "sphinx_book_theme"
html_title = "CAM course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.png"
html_context = {"default_mode": "light"}   # the theme's own switch still offers dark
html_theme_options = {
    "repository_url": cam_helpers.REPO_URL,
    "repository_branch": "main",
    "path_to_docs": "",           # docs/notebooks/X.ipynb is notebooks/X.ipynb in the repository
    "use_repository_button": True,
    "use_download_button": True,  # the .ipynb of a notebook page, and the page's source
    "launch_buttons": {"colab_url": "https://colab.research.google.com", "binderhub_url": "https://mybinder.org",
                       "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}

# MathJax 3 from the sphinx-mathjax-offline package, copied into the site (_static/mathjax/): formulas render
# offline. Its SVG output draws glyphs from data in the script, so no web font is fetched either.
import importlib.util  # noqa: E402

_mathjax = importlib.util.find_spec("sphinx-mathjax-offline")
assert _mathjax is not None and _mathjax.submodule_search_locations, "pip install sphinx-mathjax-offline"
html_static_path.append(str(Path(list(_mathjax.submodule_search_locations)[0]) / "static"))
mathjax_path = "mathjax/tex-svg.js"

# --- the API reference: every public name of cam_helpers, read from __all__ when the site is built ----------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}


class PublicNames(SphinxDirective):
    """``.. public-names::`` (reStructuredText, inside ``{eval-rst}``): an autodoc entry for every name in
    ``cam_helpers.__all__``, so a method registered in the package shows up without an edit here."""

    def run(self) -> list[nodes.Node]:
        import inspect
        lines = []
        for name in cam_helpers.__all__:
            obj = getattr(cam_helpers, name)
            if inspect.isclass(obj):
                lines += [f".. autoclass:: cam_helpers.{name}", "   :no-members:", ""]
            elif inspect.ismodule(obj):
                summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
                lines += [f"``ch.{name}``, the module :mod:`{obj.__name__}` (below): {summary}", ""]
            elif callable(obj):
                lines += [f".. autofunction:: cam_helpers.{name}", ""]
            else:
                lines += [f".. py:data:: cam_helpers.{name}", "", f"   ``{obj!r}``", ""]
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source="cam_helpers.__all__"), self.content_offset, node)
        return node.children


def setup(app):  # noqa: ANN001
    app.add_directive("public-names", PublicNames)
