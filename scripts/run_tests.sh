#!/usr/bin/env bash
# Install everything into .venv/ and run every test: unit, oracle and
# reliability tests, the widget under ipywidgets 8 and 7.7, and the notebooks
# through nbval (with their student editions' exercises, in the same run).
#   bash scripts/run_tests.sh            # everything
#   bash scripts/run_tests.sh tests/     # pytest arguments pass through
#
# nbval checks the notebooks as committed. JupyterLab autosaves the copies you
# run (half-run ones too); when notebooks/ or student/ differs from git's
# HEAD, the committed notebooks and student editions are checked out to
# .ci-cache/committed/ and tested there, and your working copies are left as
# they are.
#
# CAM_COURSE_VENV, CAM_COURSE_CONSTRAINTS and PYTHON pass through to install.sh
# (.ci/run pins the versions CI was last green with; see scripts/test_newest.sh
# and scripts/test_pythons.sh for the newest releases and the other Pythons).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CAM_COURSE_VENV:-.venv}
bash scripts/install.sh
# Colab's ipywidgets 7.7, side by side, for the widget test (not on the main path).
[ -d .ci-cache/ipywidgets7/ipywidgets ] || \
  "$VENV/bin/python" -m pip install --quiet --target .ci-cache/ipywidgets7 --no-deps "ipywidgets==7.7.*" ipython_genutils
export CAM_HELPERS_OFFLINE=${CAM_HELPERS_OFFLINE:-1}   # tests never download
export MPLBACKEND=Agg
paths=()
if [ $# -eq 0 ] || [[ "${1:-}" == -* ]]; then   # no paths given: the default test paths
  notebooks=notebooks
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && [ -n "$(git status --porcelain -- notebooks student)" ]; then
    rm -rf .ci-cache/committed && mkdir -p .ci-cache/committed
    git archive HEAD notebooks student | tar -x -C .ci-cache/committed
    notebooks=.ci-cache/committed/notebooks
    export CAM_COURSE_NOTEBOOKS="$PWD/$notebooks" CAM_COURSE_STUDENT="$PWD/.ci-cache/committed/student"
    echo "run_tests.sh: notebooks/ or student/ has local changes (JupyterLab autosaves them); testing the" \
         "committed notebooks from .ci-cache/committed/ instead" >&2
  fi
  # Each notebook runs once: the solution edition under nbval, followed in the same kernel by its student
  # edition from the first exercise on (stubs in place; every check must fail on them). See
  # make_editions.combined(); `pytest notebooks` still runs the solution editions alone.
  # one folder per environment, so that scripts/test_pythons.sh can run several side by side
  combined=.ci-cache/combined-$(basename "$VENV")/notebooks
  rm -rf "$combined"
  CAM_COURSE_NOTEBOOKS="$PWD/$notebooks" "$VENV/bin/python" scripts/make_editions.py --combined "$combined" >/dev/null
  paths=("$combined" tests)   # the long notebooks first, so that the short test files fill in around them
fi
# Two workers (pytest-xdist), one file each at a time (a notebook's cells share one kernel), one thread
# each: on the 2-core CPU this is about 1.2-1.6x faster than one worker with two threads.
# CAM_COURSE_WORKERS=0 runs in this process, as plain pytest does.
workers=${CAM_COURSE_WORKERS:-2}
xdist=()
if [ "$workers" != 0 ]; then
  xdist=(-n "$workers" --dist loadfile)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
fi
exec "$VENV/bin/python" -m pytest "${xdist[@]}" "${paths[@]}" "$@"
