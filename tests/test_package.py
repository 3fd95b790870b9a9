"""The package's shape: an acyclic import graph, small modules, and one name
for each public thing."""
import ast
from pathlib import Path

import cam_helpers as ch
from cam_helpers import registry

PACKAGE = Path(ch.__file__).parent


def _imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (at any depth of the file:
    a lazy import inside a function counts too)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    graph[name].add(node.module.split(".")[0])
                else:
                    graph[name].update(alias.name for alias in node.names)
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


def test_no_module_is_much_over_350_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 370, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_every_exported_method_is_the_registered_one():
    for record in registry.methods("cam"):
        assert getattr(ch, record.name) is record.fn
    assert set(ch.__all__) >= set(ch.METHODS)


def _module_names() -> list[str]:
    return sorted(f"cam_helpers.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")


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
    files = [str(p) for d in ("cam_helpers", "scripts", "tests", "benchmarks") for p in (root / d).glob("*.py")]
    pythons = {sys.executable} | {p for p in glob.glob(str(Path.home() / ".pyenv/versions/3.1[1-9]*/bin/python3"))}
    check = ("import sys, warnings\nwarnings.simplefilter('error')\nfor f in sys.argv[1:]:\n"
             "    with open(f) as fh: compile(fh.read(), f, 'exec')\n")
    for python in sorted(pythons):
        run = subprocess.run([python, "-c", check, *files], capture_output=True, text=True)
        assert run.returncode == 0, f"{python}: {run.stderr[-2000:]}"
