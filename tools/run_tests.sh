#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Creates/reuses .venv via tools/setup_env.sh, lints, then runs pytest.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k spectral`.
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
"$PY" -m pytest tests "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "[run_tests] FAILED: pytest collected no tests" >&2
  exit 1
fi
exit $rc
