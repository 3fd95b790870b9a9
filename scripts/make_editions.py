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
import ast
import contextlib
import doctest
import filecmp
import io
import os
import re
import shutil
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
    # otter's own function, in this process: `python -m otter assign` costs about 6 s of start-up per notebook
    # (50 s for the eight), the work itself a tenth of a second
    from otter.assign import main as otter_assign
    said, here = io.StringIO(), os.getcwd()
    try:
        os.chdir(work)
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            otter_assign(str(work / source.name), str(result), no_pdfs=True)
    except BaseException as e:
        raise RuntimeError(f"otter assign failed on {source.name}:\n{said.getvalue()}\n{e!r}") from e
    finally:
        os.chdir(here)
    return result


# What the solution edition says of itself, and what the student edition says instead.
TEACHERS_SENTENCE = re.compile(r"In\s+this\s+edition\s+the\s+solutions\s+and\s+their\s+tests\s+follow\.")
STUDENTS_SENTENCE = ("In this edition you write each answer in its `# TODO` cell; the public tests follow it, "
                     "and the solutions are in the teacher's edition.")


# After each "Predict before you run" prompt: an answer cell; the teacher's edition adds what the run shows.
MODEL_ANSWER = "**What the run shows** (teacher's edition):"


def without_nbval(source: str) -> str:
    """A cell's source without its ``# NBVAL_`` marker lines (the student edition has no nbval markers)."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("# NBVAL_"))


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
            cell.source = TEACHERS_SENTENCE.sub(STUDENTS_SENTENCE, cell.source).split(MODEL_ANSWER)[0].rstrip()
            continue
        lines = without_nbval(cell.source).splitlines()
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


STUB_CHECK = """# (CI) the stub must fail this exercise's public tests, as the grader.check above reported
assert not grader.check({name!r}).passed_all, "{name}: the public tests pass on the student edition's stub"
"""
HIDDEN_CHECK = """# (CI) the stub must fail each hidden test of {name!r} (the autograder's), too
for _i, _test in enumerate({tests!r}):
    try:
        exec(compile(_test, "hidden test %d of {name}" % _i, "exec"), globals())
    except Exception:
        pass
    else:
        raise AssertionError("{name}: hidden test %d passes on the student edition's stub" % _i)"""
FORGET = """# (CI) Above: the solution edition, as committed. Below: the student edition from its first exercise on,
# in the state the cells before the first exercise left (the two editions share those cells). Names that
# only the solutions bound are forgotten first, so a student cell cannot lean on a solution's variable.
for _name in {names!r}:
    globals().pop(_name, None)"""


def _bound_names(source: str) -> set[str]:
    """Names a cell binds at any depth (assignments, defs, imports, loop and with targets)."""
    try:
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.MULTILINE))
    except SyntaxError:
        return set()
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return names


def questions(nb) -> dict[str, dict[str, list[str]]]:
    """{question: {"public": [test sources], "hidden": [test sources]}} from a solution notebook's otter
    cells, in order (a test whose first line is ``# HIDDEN`` is hidden)."""
    out, current, in_tests = {}, None, False
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            current = re.search(r"name:\s*(\S+)", text).group(1)
            out[current] = {"public": [], "hidden": []}
        elif cell.cell_type == "raw" and text in ("# BEGIN TESTS", "# END TESTS"):
            in_tests = text == "# BEGIN TESTS"
        elif cell.cell_type == "code" and in_tests and current:
            out[current]["hidden" if text.startswith("# HIDDEN") else "public"].append(text)
    return out


def combined(solution: Path, student: Path, tests_dir: Path):
    """One notebook that checks both editions in one kernel run, so CI executes each notebook once.

    The solution edition's cells, all of them, unchanged (nbval checks them as it checks the notebook
    itself); then the student edition from its first exercise on. The two editions share every cell before
    the first exercise, so the student part starts from the very state a student's run reaches there,
    except for what the solutions' own cells bound, which is forgotten first. After each ``grader.check``
    cell an assert that the stub fails the public tests; at the end, one that it fails every hidden test.
    A student cell that raises, or a check that passes on a stub, fails the run."""
    sol = nbformat.read(solution, as_version=4)
    stu = nbformat.read(student, as_version=4)
    first_q = next(i for i, c in enumerate(sol.cells) if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION"))
    before = [c for c in sol.cells[:first_q] if c.cell_type == "code"]
    stu_code = [c for c in stu.cells if c.cell_type == "code"]
    # the student edition's code cells: the solution's cells before the first exercise, the checks' init cell
    # (right after the setup cell), then the exercises and what follows them
    if len(stu_code) < len(before) + 1 or INIT.format(stem=solution.stem) != stu_code[1].source:
        raise ValueError(f"{student.name} is not the student edition of {solution.name} (run make_editions.py)")
    for ours, theirs in zip(before[1:], stu_code[2:len(before) + 1]):
        if without_nbval(ours.source) != theirs.source:
            raise ValueError(f"{student.name}: a cell before the first exercise differs from the solution's")
    prefix_names = set().union(*(_bound_names(c.source) for c in before))
    solution_names = set().union(*(_bound_names(c.source) for c in sol.cells[first_q:] if c.cell_type == "code"))
    cells = list(sol.cells)
    cells.append(nbformat.v4.new_markdown_cell("---\n**CI: the student edition from its first exercise on.**"))
    cells.append(nbformat.v4.new_code_cell(FORGET.format(names=sorted(solution_names - prefix_names))))
    init = INIT.format(stem=solution.stem) + f"\ngrader = otter.Notebook(tests_dir={str(tests_dir)!r})"
    cells.append(nbformat.v4.new_code_cell(init))
    hidden = {name: tests["hidden"] for name, tests in questions(sol).items()}
    checked = set()
    for cell in stu_code[len(before) + 1:]:
        cells.append(nbformat.v4.new_code_cell(cell.source))
        found = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip())
        if found:
            checked.add(found.group(1))
            cells.append(nbformat.v4.new_code_cell(STUB_CHECK.format(name=found.group(1))))
    if checked != set(hidden):
        raise ValueError(f"{student.name}: grader.check cells for {sorted(checked)}, questions {sorted(hidden)}")
    for name, tests in hidden.items():
        if not tests:
            raise ValueError(f"{solution.name}, {name}: no hidden test")
        cells.append(nbformat.v4.new_code_cell(HIDDEN_CHECK.format(name=name, tests=tests)))
    for i, cell in enumerate(cells):
        cell.id = f"ci-{i:03d}"
    sol.cells = cells
    return sol


def write_combined(target: Path) -> list[Path]:
    """``combined`` for every notebook, into ``target`` (a folder named ``notebooks``, so that the setup
    cells find the project as they do from ``notebooks/``)."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        out = target / source.name
        nbformat.write(combined(source, STUDENT / source.name, STUDENT / "tests" / source.stem), out)
        written.append(out)
    return written


def what_it_tests(path: Path) -> object:
    """What an otter test file says, independent of the Python that wrote it: the test's dictionary with each
    doctest case's code replaced by its examples, parsed (``ast.dump``) beside their expected output.

    otter writes a test's code through the running Python's own unparser, so the same notebook gives
    ``f'... {x}'`` on 3.11 and ``f"... {x}"`` on 3.12+ (PEP 701); the parsed code is the same on both."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    test = namespace["test"]
    for suite in test.get("suites", []):
        for case in suite.get("cases", []):
            examples = doctest.DocTestParser().get_examples(case["code"])
            case["code"] = [(ast.dump(ast.parse(e.source)), e.want) for e in examples]
    return test


def same_file(a: Path, b: Path) -> bool:
    if a.suffix == ".py" and "tests" in a.parts:
        try:
            return what_it_tests(a) == what_it_tests(b)
        except Exception:   # not an otter test file after all (or a broken one): compare the bytes
            pass
    return filecmp.cmp(a, b, shallow=False)


def differences(a: Path, b: Path) -> list[str]:
    """Files that differ between two edition folders (relative paths; otter's .OTTER_LOG and other dot files,
    which running the checks writes, are not part of an edition). Test files are compared by what they
    test (``what_it_tests``), so editions built on Python 3.11 and on 3.13 agree."""
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    names = files(a) | files(b)
    return sorted(str(n) for n in names
                  if not ((a / n).is_file() and (b / n).is_file() and same_file(a / n, b / n)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report files of student/ that differ; change nothing")
    parser.add_argument("--autograder", type=Path, help="also write each notebook's otter autograder zip here")
    parser.add_argument("--combined", type=Path, metavar="DIR",
                        help="write, for CI, each solution notebook followed by its student edition's exercises "
                             "(one kernel run checks both; see combined()); change nothing else")
    args = parser.parse_args(argv)
    if args.combined:
        for path in write_combined(args.combined):
            print(f"wrote {path}")
        return 0
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
