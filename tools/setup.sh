#!/usr/bin/env bash
# Installs everything archspec needs on a fresh Debian machine with Python >= 3.11:
# Graphviz's `dot` (Debian package) and the Python packages (archspec itself, editable, with
# Keras/TensorFlow-CPU, scikit-learn, matplotlib, graphviz, pytest, hypothesis; jax for the
# backend-portability test). Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v dot >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
fi

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
$PY -m pip install -q -e ".[dev]"
if [ "${ARCHSPEC_SKIP_JAX:-0}" != "1" ]; then
  $PY -m pip install -q "jax[cpu]" || echo "note: jax could not be installed; the KERAS_BACKEND=jax test will be skipped"
fi
if ! out=$(TF_CPP_MIN_LOG_LEVEL=3 $PY -c "import archspec, keras, graphviz" 2>&1); then
  echo "$out"; echo "setup failed: archspec and its dependencies do not import"; exit 1
fi
