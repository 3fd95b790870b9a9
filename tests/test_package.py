"""The package's shape: an acyclic import graph, small modules, and one name
for each public thing."""
import ast
from pathlib import Path

import cam_helpers as ch
from cam_helpers import registry

PACKAGE = Path(ch.__file__).parent


TOP = {"__init__", "__main__", "widgets", "upload", "folders", "cli"}   # the explorers and the command line
WINGS = ("methods", "evaluate", "course")


def _modules() -> dict[str, Path]:
    """"methods.cams" -> its file, for every module of the package (a wing's ``__init__`` is the wing)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)] = path
    return found


def _imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (at any depth of the file:
    a lazy import inside a function counts too), relative imports resolved."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        here = name.split(".")[:-1] if path.stem != "__init__" else [] if name == "__init__" else name.split(".")
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                stem = base + (node.module.split(".") if node.module else [])
                for alias in node.names:
                    full = ".".join(stem + [alias.name])
                    graph[name].add(full if full in modules else ".".join(stem))
        graph[name].discard("")
    return graph


def test_the_import_graph_is_acyclic():
    graph = _imports()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2
    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert "registry" in graph and not graph["registry"]   # the registry imports nothing from the package


def test_the_layout_is_a_core_three_wings_and_a_top():
    """The core imports no wing; methods import only the core; evaluate imports the core; course may use
    evaluate (photos' pointing game) but no method; only the top reaches everything."""
    graph = _imports()
    wing = {m: m.split(".")[0] if m.split(".")[0] in WINGS else "top" if m in TOP else "core" for m in graph}
    allowed = {"core": {"core"}, "methods": {"core", "methods"}, "evaluate": {"core", "evaluate"},
               "course": {"core", "evaluate", "course"}, "top": {"core", "methods", "evaluate", "course", "top"}}
    wrong = [(m, n) for m, deps in graph.items() for n in deps if wing[n] not in allowed[wing[m]]]
    assert not wrong, wrong
    assert {w for w in wing.values()} == {"core", "methods", "evaluate", "course", "top"}


def test_every_module_keeps_its_short_name():
    """``cam_helpers.cams`` is ``cam_helpers.methods.cams`` (one module object), for imports, attributes
    and ``python -m cam_helpers.train``."""
    import importlib
    import subprocess
    import sys
    for short, full in ch.MOVED.items():
        assert importlib.import_module(short) is importlib.import_module(full), short
        assert getattr(ch, short.rsplit(".", 1)[1]) is importlib.import_module(full)
        assert importlib.import_module(short).__spec__.name == full
    from cam_helpers import metrics
    from cam_helpers.evaluate import metrics as same
    assert metrics is same
    run = subprocess.run([sys.executable, "-W", "error", "-m", "cam_helpers.train", "--help"], capture_output=True,
                         text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0 and "shapes_cnn" in run.stdout and not run.stderr, run.stderr[-2000:]


def test_no_module_is_much_over_350_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 370, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_every_exported_method_is_the_registered_one():
    for record in registry.methods("cam"):
        assert getattr(ch, record.name) is record.fn
    assert set(ch.__all__) >= set(ch.METHODS)


def _module_names() -> list[str]:
    return sorted(f"cam_helpers.{m}" for m in _modules())


def test_the_package_imports_with_warnings_as_errors_on_a_fresh_compile(tmp_path):
    """Every module, compiled afresh (an empty bytecode cache) with every warning an error: what a learner's
    first cell would otherwise print on stderr (a SyntaxWarning from an escape sequence on 3.12+, say)."""
    import os
    import subprocess
    import sys
    code = f"import importlib, cam_helpers\nfor m in {_module_names()!r}: importlib.import_module(m)\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run = subprocess.run([sys.executable, "-W", "error", "-X", f"pycache_prefix={tmp_path}", "-c", code],
                         capture_output=True, text=True, cwd=PACKAGE.parent, env=env)
    assert run.returncode == 0 and not run.stderr, run.stderr[-3000:]
    assert any(tmp_path.rglob("*.pyc")), "nothing was compiled: the check did not run on fresh bytecode"


def test_every_python_file_compiles_without_warnings_on_each_python_here():
    """The package, scripts, tests and benchmark compiled by each CPython this machine has, 3.11 and newer
    (pyenv's, when present), warnings as errors: a new Python's new SyntaxWarning is seen here first."""
    import glob
    import subprocess
    import sys
    root = PACKAGE.parent
    files = [str(p) for d in ("cam_helpers", "scripts", "tests", "benchmarks") for p in (root / d).rglob("*.py")]
    pythons = {sys.executable} | {p for p in glob.glob(str(Path.home() / ".pyenv/versions/3.1[1-9]*/bin/python3"))}
    check = ("import sys, warnings\nwarnings.simplefilter('error')\nfor f in sys.argv[1:]:\n"
             "    with open(f) as fh: compile(fh.read(), f, 'exec')\n")
    for python in sorted(pythons):
        run = subprocess.run([python, "-c", check, *files], capture_output=True, text=True)
        assert run.returncode == 0, f"{python}: {run.stderr[-2000:]}"
