#!/usr/bin/env bash
# The project's test command (README "Two commands"; CI runs exactly this).
# Creates/reuses .venv via tools/setup_env.sh, lints, then runs pytest.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k spectral`.
# The suite runs on SEKD_TEST_WORKERS pytest-xdist workers (default 2, one per
# core of the CI machine; every test uses one torch thread, tests/conftest.py),
# a test file per worker so that module fixtures are built once; 0 runs it in
# this process. The slowest tests are listed at the end, and every skipped
# test with its reason (-rs).
#
# PostgreSQL (tests/test_search_postgres.py, the search's workers sharing a
# study on a real server): SEKD_TEST_POSTGRES_URL names the database. Unset,
# and running as root (as CI does), this script installs Debian's postgresql
# when it is missing (apt-get), starts its cluster, makes the role and
# database sekd_test, and sets the URL; it stops a cluster it started at the
# end. Elsewhere (not root, no apt-get) the test is skipped, with the reason
# (SEKD_TEST_POSTGRES_SKIP).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
PY="$REPO/.venv/bin/python"

log() { printf '[run_tests] %s\n' "$*" >&2; }

#: The test database, its role and password (a local test server only).
PG_NAME=sekd_test
PG_STARTED=()
stop_postgres() {
  if [ ${#PG_STARTED[@]} -gt 0 ]; then
    pg_ctlcluster "${PG_STARTED[@]}" stop || true
  fi
}
trap stop_postgres EXIT

# Without PostgreSQL: the reason, logged and exported for the test's skip.
no_postgres() {
  export SEKD_TEST_POSTGRES_SKIP="$*"
  log "PostgreSQL: $* (its test skips)"
}

# As root: postgresql installed and running, the test role and database
# made, SEKD_TEST_POSTGRES_URL exported. Any failure leaves the URL unset
# (no_postgres).
start_postgres() {
  if [ -n "${SEKD_TEST_POSTGRES_URL:-}" ]; then
    log "PostgreSQL: using SEKD_TEST_POSTGRES_URL from the environment"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    no_postgres "not root: the test command installs and starts it as root"
    return 0
  fi
  if ! command -v pg_lsclusters >/dev/null; then
    if ! command -v apt-get >/dev/null; then
      no_postgres "not installed, and no apt-get to install it with"
      return 0
    fi
    local t0=$SECONDS
    log "PostgreSQL: installing Debian's postgresql (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends postgresql \
           >/dev/null; }; then
      no_postgres "apt-get install postgresql failed"
      return 0
    fi
    log "PostgreSQL: installed in $((SECONDS - t0)) s"
  fi
  local version cluster port status
  read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1) \
    || true
  if [ -z "${version:-}" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    cluster=main
    pg_createcluster "$version" "$cluster" >/dev/null \
      && read -r version cluster port status _ \
        < <(pg_lsclusters -h | head -n 1) \
      || { no_postgres "pg_createcluster $version $cluster failed"; return 0; }
  fi
  if [ "$status" != online ]; then
    pg_ctlcluster "$version" "$cluster" start || {
      no_postgres "its cluster $version/$cluster did not start"
      return 0
    }
    PG_STARTED=("$version" "$cluster")
  fi
  local psql=(runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1
              -qtA)
  if [ -z "$("${psql[@]}" -c \
      "SELECT 1 FROM pg_roles WHERE rolname = '$PG_NAME'")" ]; then
    "${psql[@]}" -c "CREATE ROLE $PG_NAME"
  fi
  "${psql[@]}" -c "ALTER ROLE $PG_NAME LOGIN PASSWORD '$PG_NAME'" || {
    no_postgres "the role $PG_NAME could not be made"
    return 0
  }
  if [ -z "$("${psql[@]}" -c \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_NAME'")" ]; then
    "${psql[@]}" -c "CREATE DATABASE $PG_NAME OWNER $PG_NAME" || {
      no_postgres "the database $PG_NAME could not be made"
      return 0
    }
  fi
  export SEKD_TEST_POSTGRES_URL="postgresql+psycopg://$PG_NAME:$PG_NAME@\
127.0.0.1:$port/$PG_NAME"
  log "PostgreSQL $version/$cluster on port $port: database $PG_NAME"
}

log "lint: ruff check (flake8 rules) + isort --check-only"
"$PY" -m ruff check .
"$PY" -m isort --check-only --diff .

start_postgres || no_postgres "its set-up failed"

log "pytest"
set +e
"$PY" -m pytest tests -n "${SEKD_TEST_WORKERS:-2}" --dist loadfile \
  --durations 15 -rs "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  log "FAILED: pytest collected no tests"
  exit 1
fi
exit $rc
