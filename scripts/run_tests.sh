#!/usr/bin/env bash
# Install everything into a project-local environment (.venv) and run every
# test: unit tests, oracle tests, reliability tests, the widget under
# ipywidgets 8 and 7.7, and the notebooks through nbval.
#   bash scripts/run_tests.sh            # everything
#   bash scripts/run_tests.sh tests/     # pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# Newest matching torch/torchvision pair from the registry (no exact pins).
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
# Colab's ipywidgets 7.7, side by side, for the widget test (not on the main path).
[ -d .ci-cache/ipywidgets7/ipywidgets ] || \
  .venv/bin/python -m pip install --quiet --target .ci-cache/ipywidgets7 --no-deps "ipywidgets>=7.7,<8" ipython_genutils
export CAM_HELPERS_OFFLINE=${CAM_HELPERS_OFFLINE:-1}   # tests never download
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
