#!/usr/bin/env bash
# Build the course as a static website into _site/ (or the folder given): one page per notebook, from the
# committed outputs (nothing is executed), TEACHING.md, a glossary and the API reference of cam_helpers.
# Offline, in well under a minute. Warnings are errors: a broken cross-reference, a missing image or a
# docstring Sphinx cannot read fails the build.
#   bash scripts/build_site.sh            # -> _site/index.html
#   bash scripts/build_site.sh /tmp/site  # elsewhere
# Sphinx with myst-nb and sphinx-book-theme (installed with the course: requirements.txt); see docs/conf.py.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CAM_COURSE_VENV:-.venv}
bash scripts/install.sh
out=${1:-_site}
# -W: warnings are errors; --keep-going: report them all before failing
exec "$VENV/bin/python" -m sphinx -b html -W --keep-going -q docs "$out"
