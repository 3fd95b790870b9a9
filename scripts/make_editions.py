"""Generate the student edition of every notebook with otter-grader.

    python scripts/make_editions.py                    # rewrite student/
    python scripts/make_editions.py --check            # exit 1 if student/ differs (a test runs this)
    python scripts/make_editions.py --autograder DIR   # also build otter's autograder zips in DIR

The notebooks in ``notebooks/`` are the solution editions and the only
source. Each exercise in them is marked with otter-grader's cells
(``# BEGIN QUESTION`` ... ``# END QUESTION``, solutions between
``# BEGIN SOLUTION`` and ``# END SOLUTION``, tests between ``# BEGIN TESTS``
and ``# END TESTS``; a test whose first line is ``# HIDDEN`` is for grading
only). In the solution edition the test cells run as plain asserts, so the
notebook checks its own solutions. ``otter assign`` turns each notebook into:

- ``student/NAME.ipynb``: solutions replaced by ``...  # TODO`` stubs, tests
  removed, outputs cleared, and a ``grader.check("question")`` cell after
  each exercise that runs the public tests and says what failed;
- ``student/tests/NAME/QUESTION.py``: those public tests.

The hidden tests go only into the autograder zips (``--autograder``), which a
teacher grades submissions with, offline: ``otter run -a ZIP submission.ipynb``.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_notebooks import setup_span  # noqa: E402  (the setup block's extent, defined where it is written)

ROOT = Path(__file__).resolve().parent.parent
# run_tests.sh points these at the committed copies when your working copies have changed
NOTEBOOKS = Path(os.environ.get("CAM_COURSE_NOTEBOOKS", ROOT / "notebooks"))
STUDENT = Path(os.environ.get("CAM_COURSE_STUDENT", ROOT / "student"))
CONFIG = """# ASSIGNMENT CONFIG
name: {name}
init_cell: false
check_all_cell: false
export_cell: false
run_tests: false
generate: {generate}
tests:
  files: true
  ok_format: true
"""
BANNER = ("> **Student edition.** Each exercise has a `...  # TODO` cell for your answer and a `grader.check(...)` "
          "cell after it that tests it and says what is wrong. Generated from "
          "[`notebooks/{name}`](../notebooks/{name}) (the solutions) by `scripts/make_editions.py`: "
          "edit that notebook, not this one.")
OTTER_SETUP = """if importlib.util.find_spec("otter") is None:  # otter-grader runs the exercise checks (e.g. on Colab)
    import importlib.metadata as _md  # keep the ipywidgets you have: an older otter-grader accepts it
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "otter-grader",
                    f"ipywidgets=={_md.version('ipywidgets')}"], check=True)
"""
INIT = """# The exercise checks: grader.check("name") runs that exercise's tests.
import otter
from pathlib import Path

_tests = Path("tests") / "{stem}"
if not _tests.is_dir():  # running from elsewhere (e.g. Colab): the tests sit beside this notebook in the course
    import cam_helpers
    _tests = Path(cam_helpers.__file__).resolve().parent.parent / "student" / _tests
grader = otter.Notebook(tests_dir=str(_tests))"""


def assign(source: Path, out: Path, generate: bool = False) -> Path:
    """Run ``otter assign`` on a copy of ``source`` with the course's configuration; returns otter's output folder."""
    nb = nbformat.read(source, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_raw_cell(CONFIG.format(name=source.stem, generate=str(generate).lower())))
    work = out / "src"
    work.mkdir(parents=True)
    nbformat.write(nb, work / source.name)
    result = out / "dist"
    run = subprocess.run([sys.executable, "-m", "otter", "assign", "--no-pdfs", str(work / source.name), str(result)],
                         capture_output=True, text=True, cwd=work)
    if run.returncode != 0:
        raise RuntimeError(f"otter assign failed on {source.name}:\n{run.stdout}\n{run.stderr}")
    return result


def student_notebook(path: Path, stem: str):
    """otter's student notebook, made ready for the course: banner, Colab setup, the checks' init cell, TODO stubs."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    first.source = first.source.replace(f"/notebooks/{stem}.ipynb", f"/student/{stem}.ipynb")
    first.source += "\n\n" + BANNER.format(name=f"{stem}.ipynb")
    setup_at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    setup = nb.cells[setup_at]
    end = setup_span(setup.source)[1]
    setup.source = setup.source[:end] + "\n" + OTTER_SETUP.rstrip("\n") + setup.source[end:]
    nb.cells.insert(setup_at + 1, nbformat.v4.new_code_cell(INIT.format(stem=stem)))
    for i, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{i:03d}"
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith("# NBVAL_")]
        if "otter_answer_cell" in cell.metadata.get("tags", []):
            lines = [re.sub(r"\.\.\.$", "...  # TODO", line) for line in lines]
        cell.source = "\n".join(lines)
    nb.metadata.pop("widgets", None)
    return nb


def write_student(dist: Path, source: Path, target: Path) -> None:
    """From otter's output ``dist`` for notebook ``source``: its student notebook and public tests, into ``target``."""
    nbformat.write(student_notebook(dist / "student" / source.name, source.stem), target / source.name)
    shutil.copytree(dist / "student" / "tests", target / "tests" / source.stem)


def build(target: Path, autograder: Path | None = None) -> None:
    """Write the student edition of every notebook into ``target`` (and the autograder zips into ``autograder``)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        with tempfile.TemporaryDirectory() as tmp:
            dist = assign(source, Path(tmp), generate=autograder is not None)
            write_student(dist, source, target)
            if autograder is not None:
                (autograder / source.stem).mkdir(parents=True, exist_ok=True)
                for zip_file in (dist / "autograder").glob("*.zip"):
                    shutil.copy(zip_file, autograder / source.stem / f"{source.stem}-autograder.zip")


def differences(a: Path, b: Path) -> list[str]:
    """Files that differ between two edition folders (relative paths; otter's .OTTER_LOG and other dot files,
    which running the checks writes, are not part of an edition)."""
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    names = files(a) | files(b)
    return sorted(str(n) for n in names
                  if not ((a / n).is_file() and (b / n).is_file() and filecmp.cmp(a / n, b / n, shallow=False)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report files of student/ that differ; change nothing")
    parser.add_argument("--autograder", type=Path, help="also write each notebook's otter autograder zip here")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            stale = differences(Path(tmp), STUDENT)
        for name in stale:
            print(f"student/{name}: differs from what scripts/make_editions.py generates")
        return 1 if stale else 0
    shutil.rmtree(STUDENT / "tests", ignore_errors=True)
    build(STUDENT, args.autograder)
    print(f"wrote {STUDENT}/" + (f" and autograder zips in {args.autograder}" if args.autograder else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
