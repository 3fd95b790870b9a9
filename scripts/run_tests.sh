#!/usr/bin/env bash
# Install everything into .venv/ and run every test: unit, oracle and
# reliability tests, the widget under ipywidgets 8 and 7.7, and the notebooks
# through nbval.
#   bash scripts/run_tests.sh            # everything
#   bash scripts/run_tests.sh tests/     # pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Colab's ipywidgets 7.7, side by side, for the widget test (not on the main path).
[ -d .ci-cache/ipywidgets7/ipywidgets ] || \
  .venv/bin/python -m pip install --quiet --target .ci-cache/ipywidgets7 --no-deps "ipywidgets==7.7.*" ipython_genutils
export CAM_HELPERS_OFFLINE=${CAM_HELPERS_OFFLINE:-1}   # tests never download
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
