"""The student editions (otter-grader): generated, current, and graded as promised.

- ``student/`` is what ``scripts/make_editions.py`` generates from ``notebooks/`` (no drift);
- every notebook has at least three graded exercises, each with public and hidden tests;
- the solutions pass every test: the solution notebooks run their test cells as asserts (nbval), and
  ``otter run`` grades notebook 01's solution edition with the autograder zip, as a teacher would;
- the student edition runs top to bottom with its stubs in place (nothing crashes), and every exercise's
  tests, public and hidden, fail on the stubs.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_editions", ROOT / "scripts" / "make_editions.py")
make_editions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_editions)
NOTEBOOKS = sorted(make_editions.NOTEBOOKS.glob("*.ipynb"))   # the committed copies under run_tests.sh
STUDENT = make_editions.STUDENT


def questions(path: Path) -> dict[str, dict[str, int]]:
    """{question: {"public": n, "hidden": n}} from a solution notebook's otter cells."""
    out, current, in_tests = {}, None, False
    for cell in nbformat.read(path, as_version=4).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            current = re.search(r"name:\s*(\S+)", text).group(1)
            out[current] = {"public": 0, "hidden": 0}
        elif cell.cell_type == "raw" and text in ("# BEGIN TESTS", "# END TESTS"):
            in_tests = text == "# BEGIN TESTS"
        elif cell.cell_type == "code" and in_tests and current:
            out[current]["hidden" if text.startswith("# HIDDEN") else "public"] += 1
    return out


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> dict[str, Path]:
    """otter assign with the autograder zip, once per notebook: {stem: otter's output folder}."""
    return {p.stem: make_editions.assign(p, tmp_path_factory.mktemp(p.stem[:2]), generate=True) for p in NOTEBOOKS}


def test_student_editions_are_current(autograder, tmp_path):
    """student/ is what scripts/make_editions.py writes (python scripts/make_editions.py --check says the same)."""
    for path in NOTEBOOKS:
        make_editions.write_student(autograder[path.stem], path, tmp_path)
    stale = make_editions.differences(tmp_path, STUDENT)
    assert not stale, f"student/ is stale (run python scripts/make_editions.py): {stale}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_three_graded_exercises_with_public_and_hidden_tests(path):
    found = questions(path)
    assert len(found) >= 3, f"{path.name}: {len(found)} graded exercises"
    for name, counts in found.items():
        assert counts["public"] >= 1 and counts["hidden"] >= 1, f"{path.name}, {name}: {counts}"
        assert (STUDENT / "tests" / path.stem / f"{name}.py").is_file()
    student = nbformat.read(STUDENT / path.name, as_version=4)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert all(f'grader.check("{name}")' in code for name in found)
    assert "# BEGIN SOLUTION" not in code and "# HIDDEN" not in code
    assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_hidden_tests_stay_out_of_the_student_edition(autograder):
    for stem, dist in autograder.items():
        for test in (STUDENT / "tests" / stem).glob("*.py"):
            assert "'hidden': True" not in test.read_text()
            assert "'hidden': True" in (dist / "autograder" / "tests" / test.name).read_text(), \
                f"{stem}/{test.name}: the autograder's copy has no hidden test"


@pytest.mark.parametrize("stem", ["01_cam_from_gap"])
def test_otter_run_gives_the_solution_full_marks_and_the_stubs_none(stem, autograder, tmp_path):
    """A teacher's grading run (otter run, no Docker) on the solution edition and on the untouched student edition."""
    dist = autograder[stem]
    zip_file = next((dist / "autograder").glob("*.zip"))
    scores = {}
    for edition, notebook in (("solution", dist / "autograder" / f"{stem}.ipynb"),
                              ("student", STUDENT / f"{stem}.ipynb")):
        out = tmp_path / edition
        out.mkdir()
        run = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(zip_file), "-o", str(out), str(notebook)],
                             capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        assert run.returncode == 0, run.stdout + run.stderr
        results = json.loads((out / "results.json").read_text())["tests"]
        scores[edition] = {t["name"]: (t["score"], t["max_score"]) for t in results if "max_score" in t}
    assert set(scores["solution"]) == set(questions(make_editions.NOTEBOOKS / f"{stem}.ipynb"))
    assert all(got == full > 0 for got, full in scores["solution"].values()), scores["solution"]
    assert all(got == 0 for got, _ in scores["student"].values()), scores["student"]


CHECK_ALL = """
import json as _json, otter as _otter
_grader = _otter.Notebook(tests_dir={tests!r})
print("RESULTS" + _json.dumps({{_q: bool(_grader.check(_q, globals()).passed_all) for _q in {names!r}}}))
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_student_edition_runs_and_every_check_fails_on_the_stubs(path, autograder):
    """The whole student edition runs with its stubs (no cell raises), each grader.check cell reports a
    failure, and the autograder's tests (public and hidden) all fail on the stubs."""
    names = list(questions(path))
    nb = nbformat.read(STUDENT / path.name, as_version=4)
    tests = autograder[path.stem] / "autograder" / "tests"
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_ALL.format(tests=str(tests), names=names)))
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(STUDENT)}}).execute()
    reports = {}
    for cell in nb.cells:
        found = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip())
        if found:
            reports[found.group(1)] = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
    assert set(reports) == set(names)
    for name, text in reports.items():
        assert "failed" in text and "All test cases passed" not in text, f"{name}: {text[:300]}"
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    results = json.loads(printed.split("RESULTS", 1)[1])
    assert results == {name: False for name in names}
