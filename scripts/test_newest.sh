#!/usr/bin/env bash
# Every test against the newest releases of everything requirements.txt names,
# in a separate environment (.ci-cache/venv-newest/), so that a release that
# breaks the course is seen here before a learner meets it. CI itself installs
# the versions in .ci/pins.txt (the last green ones) and is not affected.
#   bash scripts/test_newest.sh            # upgrade everything, then run every test
#   bash scripts/test_newest.sh tests/     # pytest arguments pass through
# When it is green, `.ci-cache/venv-newest/bin/pip freeze` is the new .ci/pins.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export CAM_COURSE_VENV=.ci-cache/venv-newest CAM_COURSE_REINSTALL=1
unset CAM_COURSE_CONSTRAINTS
export PIP_UPGRADE=1 PIP_UPGRADE_STRATEGY=eager   # pip install -U: the newest release of each, dependencies too
bash scripts/install.sh
"$CAM_COURSE_VENV/bin/python" -m pip freeze --exclude-editable > .ci-cache/newest-freeze.txt
echo "test_newest.sh: testing with these releases (.ci-cache/newest-freeze.txt):" >&2
grep -iE "^(torch|torchvision|numpy|opencv-python|ipywidgets|grad-cam|captum|torchcam|otter-grader|nbval)==" \
  .ci-cache/newest-freeze.txt >&2 || true
unset CAM_COURSE_REINSTALL PIP_UPGRADE PIP_UPGRADE_STRATEGY
exec bash scripts/run_tests.sh "$@"
