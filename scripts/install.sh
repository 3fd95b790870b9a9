#!/usr/bin/env bash
# Install the course into a project-local environment, .venv/ (created if missing):
# requirements.txt (lower bounds only: pip takes the newest matching torch and
# torchvision pair) and cam_helpers itself, editable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e . 2>/dev/null
