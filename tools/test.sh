#!/usr/bin/env bash
# Runs the test suite in the project venv (tools/setup.sh makes .venv/ first, reused when up to date).
#
#   tools/test.sh            the default run, what CI runs: everything but `slow`, on all cores
#                            (pytest-xdist), with the 25 longest tests listed at the end
#   tools/test.sh --all      everything, `slow` included (whole keras.applications models, training runs)
#   tools/test.sh --core     the `core` tier in a venv of its own (.venv-core/) that holds only the core
#                            dependencies and the test tools (`pip install -e .[test]`): proves that the
#                            core needs no Keras, numpy, scikit-learn, Pillow, jsonschema, pygls or optuna
#   tools/test.sh ARGS...    pytest with your arguments in .venv/, e.g. `-m slow`, `tests/test_cli.py -x`
#
# Tiers (markers, see conftest.py): `core` (no optional dependency), `extras`, `keras`, `slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
DEFAULT=(-n auto --durations=25)
case "${1:-}" in
  --core)
    shift
    VENV=${ARCHSPEC_CORE_VENV:-$PWD/.venv-core}
    want="$(cat pyproject.toml | sha256sum) root=$PWD"
    if [ "$(cat "$VENV/.archspec-core" 2>/dev/null || true)" != "$want" ]; then
      echo "test: installing the core dependencies and the test tools into $VENV" >&2
      rm -rf "$VENV"
      "${PYTHON:-python3}" -m venv "$VENV"
      PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -qq -e ".[test]"
      echo "$want" >"$VENV/.archspec-core"
    fi
    exec "$VENV/bin/python" -m pytest -q -m core "${DEFAULT[@]}" "$@" ;;
  --all)
    shift
    bash tools/setup.sh
    bash tools/test_services.sh    # the browser and PostgreSQL tests are in the slow group
    exec "${ARCHSPEC_VENV:-$PWD/.venv}/bin/python" -m pytest -q "${DEFAULT[@]}" "$@" ;;
esac
bash tools/setup.sh
bash tools/test_services.sh      # Chromium + chromedriver, PostgreSQL (apt-get, when absent)
if [ $# -eq 0 ]; then set -- -m "not slow" "${DEFAULT[@]}"; fi
exec "${ARCHSPEC_VENV:-$PWD/.venv}/bin/python" -m pytest -q "$@"
