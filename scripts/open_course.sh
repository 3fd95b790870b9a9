#!/usr/bin/env bash
# Install the course into .venv/ and open it in JupyterLab.
# Extra arguments go to JupyterLab (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)   # containers and some lab machines run as root
exec .venv/bin/jupyter lab "${extra[@]}" notebooks/01_cam_from_gap.ipynb "$@"
