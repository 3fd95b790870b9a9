#!/usr/bin/env bash
# Install the course into .venv/ and open it in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/jupyter lab notebooks/01_cam_from_gap.ipynb "$@"
