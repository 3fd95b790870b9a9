#!/usr/bin/env bash
# Install the course into a project-local environment, .venv/ (created if missing):
# requirements.txt (lower bounds only: pip takes the newest matching torch and
# torchvision pair) and cam_helpers itself, editable.
#
# An environment that already has everything is left alone: nothing is
# downloaded, so an installed course starts with no network (a classroom, a
# train). Set CAM_COURSE_REINSTALL=1 to run pip anyway.
#
# CAM_COURSE_CONSTRAINTS=FILE installs the versions FILE pins (pip's -c): CI uses
# .ci/pins.txt, the versions its last green run had, so a new release of torch
# or a test library cannot turn CI red overnight. Users keep the lower bounds.
# scripts/test_newest.sh tests the newest releases instead.
#
# CAM_COURSE_VENV=DIR uses DIR instead of .venv/ (scripts/test_pythons.sh keeps
# one per Python); PYTHON=python3.13 chooses the Python that creates it.
#
# CAM_COURSE_TORCH=cpu installs PyTorch's CPU-only wheels first (from
# download.pytorch.org): a laptop without an NVIDIA GPU then needs no CUDA
# libraries. Off by default. See the README for the disk each choice takes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${CAM_COURSE_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if [ "${CAM_COURSE_REINSTALL:-0}" != 1 ] && "$VENV/bin/python" scripts/check_env.py 2>/dev/null; then
  exit 0   # already installed: nothing to do, and no network needed
fi
pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ -n "${CAM_COURSE_CONSTRAINTS:-}" ]; then
  pip+=(--constraint "$CAM_COURSE_CONSTRAINTS")
fi
# CI installs without byte-compiling every file of torch, transformers and the rest (what a test imports is
# compiled on first import); a learner's install compiles everything, so that first imports are quick.
if [ -n "${CI:-}" ]; then
  pip+=(--no-compile)
fi
if [ "${CAM_COURSE_TORCH:-}" = cpu ]; then
  "${pip[@]}" --index-url https://download.pytorch.org/whl/cpu torch torchvision
fi
"${pip[@]}" -r requirements.txt
# The package itself, editable, built with what the environment has (no
# download of build tools): setuptools>=64 where present, else a .pth file.
if ! "${pip[@]}" --no-deps --no-build-isolation -e . ; then
  echo "install.sh: no PEP 660 editable build here; linking the project with a .pth file instead" >&2
  site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  pwd > "$site/cam_course.pth"
fi
if ! "$VENV/bin/python" scripts/check_env.py; then
  echo "install.sh: the environment is still missing the packages above; see pip's messages" >&2
  exit 1
fi
