#!/usr/bin/env bash
# The project's test command (README "Two commands"; CI runs exactly this).
# Creates/reuses .venv via tools/setup_env.sh, lints, then runs pytest.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k spectral`.
# The suite runs on SEKD_TEST_WORKERS pytest-xdist workers (default 2, one per
# core of the CI machine; every test uses one torch thread, tests/conftest.py),
# a test file per worker so that module fixtures are built once; 0 runs it in
# this process. The slowest tests are listed at the end.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
PY="$REPO/.venv/bin/python"

echo "[run_tests] lint: ruff check (flake8 rules) + isort --check-only" >&2
"$PY" -m ruff check .
"$PY" -m isort --check-only --diff .

echo "[run_tests] pytest" >&2
set +e
"$PY" -m pytest tests -n "${SEKD_TEST_WORKERS:-2}" --dist loadfile \
  --durations 15 "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "[run_tests] FAILED: pytest collected no tests" >&2
  exit 1
fi
exit $rc
