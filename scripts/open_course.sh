#!/usr/bin/env bash
# Install the course into a project-local environment (.venv) and open it in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
exec .venv/bin/jupyter lab notebooks/01_cam_from_gap.ipynb "$@"
