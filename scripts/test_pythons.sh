#!/usr/bin/env bash
# Opt-in: every test and notebook under each supported Python this machine has
# (3.11, 3.12, 3.13: on PATH as python3.X, or under pyenv), each in its own
# environment (.ci-cache/venv-py3.X/, installed once with .ci/pins.txt), then a
# table of results and times. Colab runs 3.12 or newer; CI runs 3.11.
#   bash scripts/test_pythons.sh                 # every supported Python found
#   PYTHONS="3.13" bash scripts/test_pythons.sh tests/test_package.py
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .ci-cache
summary=()
for v in ${PYTHONS:-3.11 3.12 3.13}; do
  python=$(command -v "python$v" || ls -d "$HOME"/.pyenv/versions/"$v"*/bin/python"$v" 2>/dev/null | tail -1)
  if [ -z "$python" ] || [ ! -x "$python" ]; then
    summary+=("Python $v: not on this machine, skipped")
    continue
  fi
  echo "=== Python $v ($python)" >&2
  log=.ci-cache/test-py$v.log
  start=$(date +%s)
  CAM_COURSE_VENV=.ci-cache/venv-py$v PYTHON=$python CAM_COURSE_CONSTRAINTS=${CAM_COURSE_CONSTRAINTS:-.ci/pins.txt} \
    bash scripts/run_tests.sh "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  result=$(grep -aE "^(=+ )?[0-9]+ (passed|failed)" "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
  summary+=("Python $v: exit $rc, ${result:-no pytest summary}, $(( $(date +%s) - start )) s in all (log: $log)")
done
printf '%s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -q "exit [1-9]"
