"""The README's Python examples run as written, in order, in one namespace (each block may use what the
blocks before it defined), so the README cannot drift from the package."""
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.fast
def test_the_readme_examples_run():
    namespace: dict = {}
    for i, block in enumerate(BLOCKS):
        try:
            exec(compile(textwrap.dedent(block), f"README.md, python block {i + 1}", "exec"), namespace)
        except Exception as e:   # say which block, with its source
            raise AssertionError(f"README.md python block {i + 1} fails: {e!r}\n{block}") from e
    ch = namespace["ch"]
    # the registered method is everywhere a built-in one is (the registry is live)
    from cam_helpers import cams
    from cam_helpers.widgets import explorer_methods
    assert "element_wise_relu_cam" in ch.METHODS and "element_wise_relu_cam" in cams.METHODS
    assert "element_wise_relu_cam" in ch.__all__ and "element_wise_relu_cam" in explorer_methods()
    assert ch.registry.get("element_wise_relu_cam").fn is ch.element_wise_relu_cam


@pytest.mark.fast
def test_contributings_worked_example_runs_with_its_test():
    """CONTRIBUTING.md's "add a method" example: the record registers, and the test it ships passes."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), flags=re.DOTALL)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "CONTRIBUTING.md", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    assert tests
    for test in tests:
        test()
