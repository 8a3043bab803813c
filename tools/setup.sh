#!/usr/bin/env bash
# Installs everything archspec needs into the project's virtual environment, .venv/ beside this
# repository's pyproject.toml, on a fresh Debian machine (apt-get) with Python >= 3.11:
#   - Graphviz's `dot` (Debian package, via apt-get; sudo when not root);
#   - .venv/ made with `python3 -m venv` (Debian's python3-venv package installed first when missing);
#   - archspec itself, editable, with its [dev] extra (Keras/TensorFlow-CPU, scikit-learn, pytest, ...),
#     and jax[cpu] for the backend-portability tests (ARCHSPEC_SKIP_JAX=1 skips it).
#
# It never installs into the system Python: stock Debian 12 refuses that (PEP 668,
# "externally-managed-environment"), and --break-system-packages is not an answer.
#
# Run it as often as you like. .venv/ is reused when it is there; pip runs only when pyproject.toml or
# this script changed since the last successful install (a hash in .venv/.archspec-setup), so a
# second run takes well under a second. Afterwards:
#     source .venv/bin/activate && archspec --help      # or, without activating: .venv/bin/archspec --help
#
# Environment: PYTHON  the interpreter that creates the venv (default: python3);
#              ARCHSPEC_VENV  where the venv lives (default: .venv in the repository);
#              ARCHSPEC_SKIP_JAX=1  do not install jax[cpu].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE_PY=${PYTHON:-python3}
VENV=${ARCHSPEC_VENV:-$ROOT/.venv}
VPY=$VENV/bin/python
STAMP=$VENV/.archspec-setup

say() { echo "setup: $*" >&2; }

apt_install() {  # apt_install PACKAGE... — as root, or through sudo; says what to run when neither works
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "please install the Debian package(s) $* (apt-get install $*) and run this again"; exit 1
    fi
  fi
  say "installing the Debian package(s) $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v dot >/dev/null 2>&1; then
  apt_install graphviz
fi

# --- the virtual environment -------------------------------------------------------------------
if [ ! -x "$VPY" ] || ! "$VPY" -c "" >/dev/null 2>&1; then
  if ! command -v "$BASE_PY" >/dev/null 2>&1; then
    say "no '$BASE_PY' on PATH; install Python >= 3.11 (apt-get install python3) or set PYTHON=/path/to/python3"
    exit 1
  fi
  if ! "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$("$BASE_PY" --version 2>&1) is too old: archspec needs Python >= 3.11 (set PYTHON=/path/to/python3.11)"
    exit 1
  fi
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
    say "$VENV exists and is not a virtual environment; move it away or set ARCHSPEC_VENV=/another/path"
    exit 1
  fi
  [ -e "$VENV" ] && say "$VENV does not run (its Python was removed or upgraded?); making it again"
  if ! "$BASE_PY" -m venv --clear "$VENV" >/dev/null 2>&1; then
    # Debian ships venv's ensurepip separately: python3-venv (and python3.X-venv)
    ver=$("$BASE_PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install python3-venv "python$ver-venv" || apt_install python3-venv
    "$BASE_PY" -m venv --clear "$VENV"
  fi
  say "made the virtual environment $VENV ($("$VPY" --version 2>&1))"
fi
if ! "$VPY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "$VENV has $("$VPY" --version 2>&1); archspec needs Python >= 3.11: remove $VENV, set PYTHON=/path/to/python3.11 and run again"
  exit 1
fi

# --- the packages, only when what decides them changed --------------------------------------------
want=$(cat pyproject.toml tools/setup.sh | "$VPY" -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
want="$want jax=${ARCHSPEC_SKIP_JAX:-0} root=$ROOT"
have=$(cat "$STAMP" 2>/dev/null || true)

if [ "$want" = "$have" ] && "$VPY" -c "import archspec" >/dev/null 2>&1; then
  exit 0      # up to date; this check takes ~0.3 s
fi

if [ -n "$have" ]; then
  say "pyproject.toml or tools/setup.sh changed since the last install: updating $VENV (a minute or two)"
else
  say "installing archspec and its dependencies into $VENV (the first time takes a few minutes)"
fi
rm -f "$STAMP"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# -qq: pip's errors only (a machine's pip configuration can add a warning per package otherwise)
"$VPY" -m pip install -qq -e ".[dev]"
if [ "${ARCHSPEC_SKIP_JAX:-0}" != "1" ]; then
  "$VPY" -m pip install -qq "jax[cpu]" || say "note: jax could not be installed; the KERAS_BACKEND=jax tests will be skipped"
fi
if ! out=$(TF_CPP_MIN_LOG_LEVEL=3 "$VPY" -c "import archspec, keras, graphviz" 2>&1); then
  echo "$out" >&2; say "failed: archspec and its dependencies do not import in $VENV"; exit 1
fi
echo "$want" >"$STAMP"
say "done; use archspec with: source ${VENV#"$ROOT"/}/bin/activate   (or run ${VENV#"$ROOT"/}/bin/archspec)"
