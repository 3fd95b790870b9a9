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
