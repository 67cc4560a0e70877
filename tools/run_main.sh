#!/usr/bin/env bash
# The main job (README "Two commands"): creates/reuses .venv, then trains
# a teacher, a SEKD student, a PKD student and the student alone on the
# embedded dataset and prints the COCO comparison table. Arguments go to
# tools/main_job.py.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
exec "$REPO/.venv/bin/python" tools/main_job.py "$@"
