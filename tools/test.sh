#!/usr/bin/env bash
# Sets everything up and runs the test suite (what CI runs). Extra arguments go to pytest,
# e.g. `tools/test.sh -m slow` for the long tests, `tools/test.sh -m "not keras"` for the fast core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
PY=${PYTHON:-python3}
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
exec $PY -m pytest -q "$@"
