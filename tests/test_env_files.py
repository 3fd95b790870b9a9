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


def test_ci_pins_every_requirement_within_its_bounds():
    """.ci/pins.txt (CI's constraints: the last green versions) pins every requirement exactly, and each pin
    satisfies requirements.txt's bound, so CI tests a version users may have."""
    from packaging.specifiers import SpecifierSet
    pins = {}
    for line in (ROOT / ".ci" / "pins.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    for name, bound in requirements().items():
        assert name in pins, f"{name} is not pinned in .ci/pins.txt"
        assert SpecifierSet(bound).contains(pins[name]), f"{name}=={pins[name]} is outside {bound}"


def test_the_supported_pythons_are_the_tested_ones():
    """pyproject's requires-python, its classifiers, the README and environment.yml name one range:
    3.11 and newer (3.10 cannot collect the tests: tomllib; scripts/test_pythons.sh runs 3.11 to 3.13)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    classifiers = {c.rsplit(" ", 1)[-1] for c in project.get("classifiers", []) if "Python :: 3." in c}
    assert classifiers == {"3.11", "3.12", "3.13"}
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11, 3.12 and 3.13" in readme and "3.10+" not in readme
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert any(re.fullmatch(r"python>=3\.11(,<\S+)?|python=3\.1[1-3]", str(d)) for d in env["dependencies"])


def test_one_version():
    """The version lives in cam_helpers.__version__: pyproject reads it from there, CITATION.cff repeats it."""
    import cam_helpers
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cam_helpers.__version__"}
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == cam_helpers.__version__
