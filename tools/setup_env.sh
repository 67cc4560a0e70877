#!/usr/bin/env bash
# Create or reuse the project environment in .venv/ at the repository root.
#
# Idempotent: the first run builds mmcv 2.1.0 from source with its C++ ops
# (about 14 minutes on 2 CPU cores); later runs reuse the wheel cached under
# ${SEKD_WHEEL_CACHE} (keyed by the torch build it was compiled against) and a
# stamp file, and finish in seconds.
#
# Environment variables:
#   SEKD_VENV            where to put the environment (default: <repo>/.venv)
#   SEKD_TORCH_SPEC      pip requirement for torch (default: torch==2.13.0).
#                        A torch already importable in the venv is kept as is.
#   SEKD_VENV_SYSTEM_SITE=1  create the venv with --system-site-packages, so a
#                        CUDA torch installed system-wide is reused (mmcv's
#                        CUDA ops are then built, FORCE_CUDA=1).
#   SEKD_WHEEL_CACHE     where built mmcv wheels are kept
#                        (default: ~/.cache/sekd_mm/wheels)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEKD_VENV:-$REPO/.venv}"
TORCH_SPEC="${SEKD_TORCH_SPEC:-torch==2.13.0}"
WHEEL_CACHE="${SEKD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sekd_mm/wheels}"
PY_BOOT="${PYTHON:-python3}"

STEP="start"
log() { printf '[setup_env] %s\n' "$*" >&2; }
step() { STEP="$1"; log "step: $1"; }
trap 'rc=$?; if [ $rc -ne 0 ]; then log "FAILED at step: $STEP (exit $rc)"; fi' EXIT

# Pinned stack (see README "Supported versions").
MMENGINE="mmengine==0.10.7"
MMCV_VERSION="2.1.0"
MMDET="mmdet==3.3.0"
MMRAZOR="mmrazor==1.0.0"
# openmim 0.3.7 is the newest release that does not depend on opendatalab ->
# openxlab, whose pins downgrade setuptools to 60.x and break mmcv/torch.
OPENMIM="openmim==0.3.7"
SETUPTOOLS="setuptools>=77,<81"
EXTRA=(
  "numpy>=1.23,<2"
  "pycocotools>=2.0.7"
  "pytest>=7"
  # the test command runs the suite on 2 workers (tools/run_tests.sh)
  "pytest-xdist>=3.5"
  "ruff==0.8.4"
  "isort==5.13.2"
  "ninja"
  "matplotlib"
  # mmrazor 1.0.0 imports joblib at import time without declaring it.
  "joblib"
  # the distiller search and the real-image sets (setup.py)
  "optuna>=4,<5"
  "tifffile"
  # the search's PostgreSQL test (tests/test_search_postgres.py): the
  # driver of postgresql+psycopg:// URLs (setup.py's tests extra)
  "psycopg[binary]>=3.1"
)

STAMP="$VENV/.sekd_env_stamp"
stamp_value() {
  # Everything that changes what gets installed goes into the stamp.
  { cat "$REPO/tools/setup_env.sh" "$REPO/setup.py"; echo "$TORCH_SPEC"; } \
    | sha256sum | cut -d' ' -f1
}

step "python interpreter"
command -v "$PY_BOOT" >/dev/null || { log "no '$PY_BOOT' on PATH; install Python >= 3.8 or set PYTHON="; exit 1; }

step "virtual environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  args=()
  [ "${SEKD_VENV_SYSTEM_SITE:-0}" = "1" ] && args+=(--system-site-packages)
  "$PY_BOOT" -m venv "${args[@]}" "$VENV"
  log "created $VENV"
else
  log "reusing $VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ] \
   && "$PY" -c "import sekd_mm, mmcv.ops, mmdet, mmrazor" 2>/dev/null; then
  log "environment is up to date (stamp matches, imports work); nothing to do"
  trap - EXIT
  exit 0
fi

step "pip and setuptools ($SETUPTOOLS)"
"${PIP[@]}" install -q --upgrade "pip>=23" "$SETUPTOOLS" wheel

step "torch"
if "$PY" -c "import torch" 2>/dev/null; then
  log "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing $TORCH_SPEC (CPU build where the local wheel is available)"
  "${PIP[@]}" install -q "$TORCH_SPEC"
fi
TORCH_TAG="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
WITH_CUDA="$("$PY" -c 'import torch; print(int(torch.version.cuda is not None))')"

step "base packages (numpy<2, $MMENGINE)"
# Pin torch to the installed version so nothing below can replace it.
TORCH_PIN="torch==$("$PY" -c 'import torch; print(torch.__version__)')"
"${PIP[@]}" install -q "$TORCH_PIN" "$SETUPTOOLS" "${EXTRA[@]}" "$MMENGINE"

step "mmcv $MMCV_VERSION with ops"
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  WHEELHOUSE="$WHEEL_CACHE/torch-$TORCH_TAG"
  mkdir -p "$WHEELHOUSE"
  if ! ls "$WHEELHOUSE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION from source with C++ ops against torch $TORCH_TAG"
    log "this takes about 14 minutes on 2 CPU cores; the wheel is cached in $WHEELHOUSE"
    export MMCV_WITH_OPS=1
    export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    if [ "$WITH_CUDA" = "1" ] && command -v nvcc >/dev/null; then
      export FORCE_CUDA=1
      log "CUDA torch detected: building CUDA ops too (FORCE_CUDA=1)"
    fi
    "${PIP[@]}" wheel --no-build-isolation --no-deps "mmcv==$MMCV_VERSION" -w "$WHEELHOUSE"
  else
    log "using cached wheel $(ls "$WHEELHOUSE"/mmcv-"$MMCV_VERSION"-*.whl)"
  fi
  "${PIP[@]}" install -q "$TORCH_PIN" "$SETUPTOOLS" "${EXTRA[@]}" \
    "$WHEELHOUSE"/mmcv-"$MMCV_VERSION"-*.whl
fi

step "$MMDET, $MMRAZOR, $OPENMIM and sekd_mm (editable)"
"${PIP[@]}" install -q "$TORCH_PIN" "$SETUPTOOLS" "${EXTRA[@]}" "mmcv==$MMCV_VERSION" \
  "$MMDET" "$MMRAZOR" "$OPENMIM"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$REPO"

step "pip check"
"${PIP[@]}" check

step "smoke import"
"$PY" -c "import torch, mmcv.ops, mmdet, mmrazor, sekd_mm; print('torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmrazor', mmrazor.__version__, '| sekd_mm', sekd_mm.__version__)"

stamp_value > "$STAMP"
log "done"
