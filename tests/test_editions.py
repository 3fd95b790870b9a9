"""The student editions (otter-grader): generated, current, and graded as promised.

- ``student/`` is what ``scripts/make_editions.py`` generates from ``notebooks/`` (no drift);
- every notebook has at least three graded exercises, each with public and hidden tests;
- the solutions pass every test: the solution notebooks run their test cells as asserts (nbval), and
  ``otter run`` grades notebook 01's solution edition with the autograder zip, as a teacher would;
- the student edition runs with its stubs in place (nothing crashes), and every exercise's tests, public
  and hidden, fail on the stubs: checked in the notebooks' own nbval run, where scripts/run_tests.sh
  follows each solution notebook with its student edition's exercises in the same kernel
  (make_editions.combined; each notebook is executed once, not twice).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_editions", ROOT / "scripts" / "make_editions.py")
make_editions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_editions)
NOTEBOOKS = sorted(make_editions.NOTEBOOKS.glob("*.ipynb"))   # the committed copies under run_tests.sh
STUDENT = make_editions.STUDENT


def questions(path: Path) -> dict[str, dict[str, int]]:
    """{question: {"public": n, "hidden": n}} from a solution notebook's otter cells."""
    return {name: {kind: len(sources) for kind, sources in tests.items()}
            for name, tests in make_editions.questions(nbformat.read(path, as_version=4)).items()}


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
    text = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert "solutions and their tests follow" not in " ".join(text.split())   # the teacher's edition says that
    assert "the solutions are in the teacher's edition" in " ".join(text.split())


def _solution_expressions(path: Path) -> set[str]:
    """What a solution computes, statement by statement: each line of a solution block (the right-hand
    side of an assignment), 20 characters or more; prints and comments are not solutions."""
    found = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            for line in cell.source.split("# END SOLUTION")[0].splitlines()[1:]:
                line = line.strip()
                if line and not line.startswith(("#", "print(")):
                    expr = line.split(" = ", 1)[-1].strip()
                    if len(expr) >= 20:
                        found.add(expr)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_no_public_test_holds_a_solution(path):
    """The leak scan: a student edition's public tests (what a learner can open) contain none of the
    solution's statements; the checks that recompute the answer are hidden tests."""
    solution = _solution_expressions(path)
    assert solution, f"{path.name}: no solution statements found"
    for test in sorted((STUDENT / "tests" / path.stem).glob("*.py")):
        namespace: dict = {}
        exec(test.read_text(), namespace)
        public = "\n".join(case["code"] for suite in namespace["test"]["suites"] for case in suite["cases"]
                           if not case["hidden"])
        leaked = sorted(e for e in solution if e in public)
        assert not leaked, f"{path.stem}/{test.name}: its public tests hold the solution: {leaked}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_every_prediction_has_an_answer_cell_and_the_model_answer_stays_with_the_teacher(path):
    """Each "Predict before you run" prompt is followed by a cell for the learner's prediction; the teacher's
    edition adds what the run shows, the student edition leaves the cell to the learner."""
    for cells, teacher in ((nbformat.read(path, as_version=4).cells, True),
                           (nbformat.read(STUDENT / path.name, as_version=4).cells, False)):
        for i, cell in enumerate(cells):
            if cell.cell_type == "markdown" and cell.source.startswith("**Predict before you run.**"):
                answer = cells[i + 1].source
                assert answer.startswith("**Your prediction:**"), f"{path.name}, cell {i}: no answer cell"
                assert (make_editions.MODEL_ANSWER in answer) == teacher, f"{path.name}, cell {i + 1}"
    student = "\n".join(c.source for c in nbformat.read(STUDENT / path.name, as_version=4).cells)
    assert "What the run shows" not in student


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


def test_ci_runs_each_student_edition_after_its_solutions_in_one_kernel(tmp_path):
    """What scripts/run_tests.sh hands nbval (make_editions.combined): the solution edition's cells, all
    and unchanged, then the student edition from its first exercise on, with an assert after each
    grader.check and one per question over the hidden tests, after forgetting what only solutions bound."""
    for path in NOTEBOOKS:
        nb = make_editions.combined(path, STUDENT / path.name, STUDENT / "tests" / path.stem)
        solution = nbformat.read(path, as_version=4)
        assert [c.source for c in nb.cells[:len(solution.cells)]] == [c.source for c in solution.cells]
        tail = [c.source for c in nb.cells[len(solution.cells):]]
        names = list(questions(path))
        for name in names:
            assert f'grader.check("{name}")' in tail
            check = tail.index(f'grader.check("{name}")')
            assert tail[check + 1].startswith("# (CI) the stub must fail") and repr(name) in tail[check + 1]
            assert any(t.startswith(f"# (CI) the stub must fail each hidden test of {name!r}") for t in tail)
        forget = next(t for t in tail if t.startswith("# (CI) Above: the solution edition"))
        stubs = [c.source for c in nbformat.read(STUDENT / path.name, as_version=4).cells
                 if "otter_answer_cell" in c.metadata.get("tags", [])]
        assert stubs and all(s in tail for s in stubs)
        assert "globals().pop" in forget
    forget = next(c.source for c in make_editions.combined(
        NOTEBOOKS[5], STUDENT / NOTEBOOKS[5].name, STUDENT / "tests" / NOTEBOOKS[5].stem).cells
        if c.source.startswith("# (CI) Above"))
    assert "'pre'" in forget and "'biased'" not in forget   # 06: the exercise's model goes, the lab's stays


def test_the_stub_checks_fail_when_a_stub_passes():
    """The asserts the combined notebook adds: a hidden test that passes on the stub raises, one that fails
    does not; the public check's assert reads otter's passed_all."""
    passing = make_editions.HIDDEN_CHECK.format(name="q", tests=["assert True"])
    with pytest.raises(AssertionError, match="hidden test 0 passes"):
        exec(passing, {})
    exec(make_editions.HIDDEN_CHECK.format(name="q", tests=["assert False", "1 / 0"]), {})

    class Result:
        passed_all = True
    grader = type("Grader", (), {"check": staticmethod(lambda name: Result)})
    with pytest.raises(AssertionError, match="public tests pass"):
        exec(make_editions.STUB_CHECK.format(name="q"), {"grader": grader})
    Result.passed_all = False
    exec(make_editions.STUB_CHECK.format(name="q"), {"grader": grader})


def test_test_files_are_compared_by_what_they_test(tmp_path):
    """The drift check reads otter's test files as tests: the f-string quoting of Python 3.11 and of 3.12+
    is the same test; another expected value is not."""
    template = ("OK_FORMAT = True\ntest = {{'name': 'q', 'points': 1, 'suites': [{{'cases': [{{'code': {code!r}, "
                "'hidden': False, 'locked': False}}], 'scored': True, 'setup': '', 'teardown': '', "
                "'type': 'doctest'}}]}}\n")
    files = {}
    for key, code in (("py311", ">>> assert x == 1, f'got {getattr(x, \"shape\", x)}'\n"),
                      ("py313", '>>> assert x == 1, f"got {getattr(x, \'shape\', x)}"\n'),
                      ("other", ">>> assert x == 2, f'got {getattr(x, \"shape\", x)}'\n")):
        folder = tmp_path / key / "tests" / "01"
        folder.mkdir(parents=True)
        (folder / "q.py").write_text(template.format(code=code))
        files[key] = tmp_path / key
    assert make_editions.differences(files["py311"], files["py313"]) == []
    assert make_editions.differences(files["py311"], files["other"]) == ["tests/01/q.py"]
