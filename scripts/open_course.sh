#!/usr/bin/env bash
# Install the course into .venv/ (nothing is downloaded when it is installed
# already) and open it in JupyterLab, served from the project root so that the
# README, data/ and the package sit beside notebooks/.
# Extra arguments go to JupyterLab (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)   # containers and some lab machines run as root
exec .venv/bin/jupyter lab "${extra[@]}" --ServerApp.root_dir="$PWD" \
  --LabApp.default_url=/lab/tree/notebooks/01_cam_from_gap.ipynb "$@"
