"""Checks that apply to every test path, the notebooks under nbval included.

A warning that reaches a notebook's output fails that cell: a learner sees every line a cell prints on
stderr, in JupyterLab and in Colab, and a ``SyntaxWarning`` from the package (Python 3.12+) or a
deprecation from a setup cell is noise we caused, not they. Progress bars (tqdm writes to stderr) are fine.
"""
from __future__ import annotations

import re

import pytest

WARNING_LINE = re.compile(r"^\S*?(\w+Warning)\b:|^\s*warnings\.warn\(|^\S+:\d+: \w+Warning\b", re.MULTILINE)


def warnings_in(outputs) -> list[str]:
    """The warning lines among a cell's outputs (stderr streams only)."""
    found = []
    for out in outputs or []:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = out.get("text", "")
            found += [line for line in text.splitlines() if WARNING_LINE.search(line)]
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    if type(item).__name__ == "IPyNbCell":   # nbval's notebook cell
        found = warnings_in(getattr(item, "test_outputs", None))
        if found:
            pytest.fail(f"{item.name}: a warning reached the notebook's output:\n" + "\n".join(found[:5]),
                        pytrace=False)


# Tests by purpose, by file (pyproject.toml's markers say what each means).
PURPOSE = {
    "test_oracle.py": "oracle", "test_oracle_family.py": "oracle", "test_fuzz.py": "fuzz",
    "test_attributions.py": "oracle", "test_fusion.py": "oracle", "test_road.py": "oracle",
    "test_editions.py": "editions", "test_browser.py": "browser", "test_install.py": "install",
    "test_colab.py": "install", "test_benchmark.py": "benchmark", "test_site.py": "site",
}
# Unit-test files too slow for the fast loop (20 s and more each on the 2-core CPU: the ViT track builds
# vit_b_16, metrics_eval starts torchrun, export runs the command line in a fresh process and on timm and
# Hugging Face models; types runs mypy over the package, 35 s)
NOT_FAST = {"test_vit.py", "test_metrics_eval.py", "test_export.py", "test_types.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            item.add_marker("notebooks")
            continue
        file = item.path.name
        purpose = PURPOSE.get(file, "unit")
        item.add_marker(purpose)
        if purpose == "unit" and file not in NOT_FAST:
            item.add_marker("fast")
