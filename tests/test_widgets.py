"""The explorer under ipywidgets 8 (installed) and 7.7 (Colab's)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import widget_checks

ROOT = Path(__file__).resolve().parent.parent
IPYWIDGETS7 = ROOT / ".ci-cache" / "ipywidgets7"  # filled by scripts/run_tests.sh


def test_explorer_with_installed_ipywidgets():
    widget_checks.run()


def test_explorer_with_ipywidgets_7():
    if not IPYWIDGETS7.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{IPYWIDGETS7} is missing: scripts/run_tests.sh installs ipywidgets 7.7 there")
        pytest.skip("ipywidgets 7.7 not installed in .ci-cache/ (scripts/run_tests.sh does it)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(IPYWIDGETS7), str(Path(__file__).parent)]))
    out = subprocess.run([sys.executable, "-m", "widget_checks"], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ipywidgets 7.7"), out.stdout
