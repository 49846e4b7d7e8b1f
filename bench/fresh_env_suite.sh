#!/usr/bin/env bash
# The suite in a fresh virtual environment with today's releases of every dependency (issue 11, item 4):
# not only with the versions this machine happens to have.
#
#   bash bench/fresh_env_suite.sh          # the clean-clone layer: pytest -m "not real"
#   bash bench/fresh_env_suite.sh full     # the whole suite with CI=true (needs ../shared/data)
#
# Makes a venv (python3 -m venv) in a temporary folder (or $FRESH_VENV), installs `.[test]` with
# `pip install --upgrade` (the newest releases the bounds in pyproject.toml allow), prints the versions
# that decide the outcome, runs the suite and exits with pytest's status.  Results: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FRESH_VENV:-$(mktemp -d -t emergence-fresh-XXXXXX)/venv}"
t0=$(date +%s)
python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade '.[test]'
t1=$(date +%s)
echo "fresh venv: $VENV (install $((t1 - t0)) s)"
"$PY" --version
"$PY" -m pip list --disable-pip-version-check --format=freeze 2>/dev/null \
    | grep -i -E '^(pytest|pytest-playwright|playwright|hypothesis|kaleido|streamlit|duckdb|pandas|numpy|scipy|pyarrow|plotly|rapidfuzz|scikit-learn)==' \
    | tr '\n' ' '
echo
# the checkout's code (python -m pytest puts it first on sys.path), the venv's dependencies
status=0
if [ "${1:-}" = "full" ]; then
    CI=true "$PY" -m pytest -q -p no:cacheprovider || status=$?
else
    "$PY" -m pytest -q -p no:cacheprovider -m "not real" || status=$?
fi
echo "suite: $(( $(date +%s) - t1 )) s, exit $status"
exit $status
