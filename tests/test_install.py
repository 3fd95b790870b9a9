"""The README's commands on a machine already set up but without a network:
an installed course starts without pip, and an install that cannot finish
says why instead of failing silently."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "1"}

pytestmark = pytest.mark.skipif(VENV.resolve() != (ROOT / os.environ.get("CAM_COURSE_VENV", ".venv")).resolve(),
                                reason="runs where the README's install made .venv (scripts/run_tests.sh)")


def _run(cmd, cwd, extra=None):
    env = {**os.environ, **OFFLINE, **(extra or {})}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_environment_check_passes_here():
    out = _run([str(VENV / "bin" / "python"), "scripts/check_env.py"], ROOT)
    assert out.returncode == 0, out.stderr


def test_an_installed_course_starts_with_no_network():
    start = time.perf_counter()
    out = _run(["bash", "scripts/install.sh"], ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert time.perf_counter() - start < 30 and "pip" not in out.stderr.lower()   # pip never ran


def test_an_install_that_cannot_finish_says_why(tmp_path):
    project = tmp_path / "course"
    (project / "scripts").mkdir(parents=True)
    for name in ("install.sh", "check_env.py"):
        shutil.copy(ROOT / "scripts" / name, project / "scripts" / name)
    shutil.copy(ROOT / "pyproject.toml", project)
    reqs = (ROOT / "requirements.txt").read_text() + "definitely-not-a-course-package>=1\n"
    (project / "requirements.txt").write_text(reqs)
    (project / ".venv").symlink_to(VENV)
    out = _run(["bash", "scripts/install.sh"], project, {"CAM_COURSE_VENV": ".venv", "CAM_COURSE_CONSTRAINTS": ""})
    assert out.returncode != 0
    assert "definitely-not-a-course-package" in out.stderr     # pip's own error, not swallowed
