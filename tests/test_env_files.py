"""requirements.txt, environment.yml and pyproject.toml name the same packages."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _spec(line: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", line)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def requirements() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return dict(_spec(l) for l in lines if l.strip() and not l.startswith("#"))


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(str(d).startswith("python") for d in env["dependencies"] if isinstance(d, str))
    assert dict(_spec(l) for l in pip if not l.startswith("-e")) == requirements()
    assert "-e ." in pip  # the package itself


def test_pyproject_dependencies_are_in_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = requirements()
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    for dep in declared:
        name, bound = _spec(dep)
        assert reqs.get(name) == bound, f"{name}: pyproject says {bound!r}, requirements.txt {reqs.get(name)!r}"
    assert set(reqs) == {_spec(d)[0] for d in declared}
