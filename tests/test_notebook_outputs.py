"""The committed notebooks show their explorers to readers who do not run
them: every explorer cell's saved output holds the widget view (whose state
is saved in the notebook's metadata, for JupyterLab and nbviewer) and a PNG of
the explorer's first view with a line of text (for code hosts and anything
without widgets)."""
import base64
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
VIEW = "application/vnd.jupyter.widget-view+json"


def _explorer_outputs(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "Explorer(" in "".join(cell["source"]):
            shown = [o for o in cell.get("outputs", []) if VIEW in o.get("data", {})]
            yield "".join(cell["source"]), shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_explorer_is_saved_with_its_state_and_a_picture(path):
    nb = json.loads(path.read_text())
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for source, shown in _explorer_outputs(nb):
        assert shown, f"{path.name}: an explorer cell has no widget output:\n{source}"
        for out in shown:
            data = out["data"]
            assert data[VIEW]["model_id"] in state, f"{path.name}: the widget's state is not saved"
            png = base64.b64decode(data["image/png"])
            assert png[:4] == b"\x89PNG" and len(png) > 1000, f"{path.name}: no snapshot of the first view"
            assert "Explorer:" in "".join(data["text/plain"])


def test_the_course_has_explorers_to_check():
    assert sum(len(list(_explorer_outputs(json.loads(p.read_text())))) for p in NOTEBOOKS) >= 5


def _sync():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sync_notebooks", NOTEBOOKS[0].parent.parent / "scripts" /
                                                  "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_badges_and_setup_cells_come_from_the_one_repo_url():
    sync = _sync()
    import cam_helpers
    assert sync.repo_url() == cam_helpers.REPO_URL
    assert sync.main(["--check"]) == 0, "run python scripts/sync_notebooks.py"


def test_another_repo_url_rewrites_every_badge_and_clone(monkeypatch):
    import nbformat
    sync = _sync()
    fork = "https://github.com/a-teacher/cam-course-fork"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        sync.sync(nb, path.name, fork)
        text = "\n".join(c.source for c in nb.cells)
        assert f"colab.research.google.com/github/a-teacher/cam-course-fork/blob/main/notebooks/{path.name}" in text
        assert f'os.environ.get("CAM_COURSE_REPO", "{fork}")' in text and "cam-course-fork\"]" in text
        assert "cam-course/cam-course" not in text
        assert "pip\", \"install\", \"-q\", \"torch" not in text   # never touches Colab's torch


def test_the_setup_cell_clones_the_course_where_it_is_not_installed(tmp_path):
    """Colab's situation, offline: cam_helpers is not importable (Python runs
    without site processing, so the editable install's hook is off; torch and
    the other packages stay on the path), and CAM_COURSE_REPO points at a
    local clone. The setup cell must clone it and import cam_helpers from the
    clone, and install nothing (everything else is there)."""
    import os
    import subprocess
    import sys
    import sysconfig

    import nbformat
    root = NOTEBOOKS[0].parent.parent
    if not (root / ".git").exists():
        pytest.skip("needs the course as a git repository to clone")
    setup = next(c.source for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells if c.cell_type == "code")
    start, end = _sync().setup_span(setup)
    block = setup[start:end]
    program = (f"import sys; sys.path.append({sysconfig.get_paths()['purelib']!r})\n" + block +
               "\nimport cam_helpers; print(cam_helpers.__file__)")
    env = {**os.environ, "CAM_COURSE_REPO": str(root), "PIP_NO_INDEX": "1"}
    out = subprocess.run([sys.executable, "-S", "-c", program], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "cam-course" / "cam_helpers" / "__init__.py")


def test_the_teachers_guide_times_come_from_the_committed_run():
    """TEACHING.md's lesson plan quotes each notebook's computation time; it
    must be the committed run's, as scripts/section_times.py reads it (to
    15% or 3 s: runs of the same notebook vary by that much)."""
    import importlib.util
    import re
    root = NOTEBOOKS[0].parent.parent
    spec = importlib.util.spec_from_file_location("section_times", root / "scripts" / "section_times.py")
    times = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(times)
    guide = (root / "TEACHING.md").read_text()
    for path in NOTEBOOKS:
        total = sum(s for _, s in times.sections(path))
        row = re.search(rf"^\| {path.stem[:2]} [^|]*\| (\d+) s \|", guide, re.M)
        assert row, f"no lesson-plan row for {path.stem}"
        assert abs(int(row.group(1)) - total) <= max(3, 0.15 * total), (path.stem, row.group(1), round(total, 1))


def _questionnaire(nb) -> str:
    last = nb["cells"][-1]
    return "".join(last["source"]) if last["cell_type"] == "markdown" else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_ends_with_a_questionnaire_whose_numbers_it_printed(path):
    """fastbook's habit: 8-12 short questions and some further research at the end of each notebook. Every
    number a question quotes (0.890, -0.582, 5.42e-02) stands in the notebook's own outputs or text, so a
    re-run that moves a number (the training cells of 06 and 07 are not bit-reproducible) fails here, and the
    question is re-checked."""
    import re
    nb = json.loads(path.read_text())
    text = _questionnaire(nb)
    assert text.startswith("## Questionnaire") and "## Further research" in text, f"{path.name}: no questionnaire"
    questions, research = text.split("## Further research")
    n = len(re.findall(r"^\d+\. ", questions, re.M))
    assert 8 <= n <= 12, f"{path.name}: {n} questions"
    assert 2 <= len(re.findall(r"^\d+\. ", research, re.M)) <= 4
    rest = ""
    for cell in nb["cells"][:-1]:
        rest += "".join(cell["source"]) + "\n"
        for out in cell.get("outputs", []):
            rest += "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", "")) + "\n"
    quoted = re.findall(r"\d+\.\d+(?:e-?\d+)?", text)
    assert not [q for q in quoted if q not in rest], f"{path.name}: numbers the notebook never printed"
