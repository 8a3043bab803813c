#!/usr/bin/env bash
# Sets everything up (tools/setup.sh: the project venv .venv/, reused when up to date) and runs the
# test suite in it — what CI runs. Extra arguments go to pytest, e.g. `tools/test.sh -m slow` for the
# long tests, `tools/test.sh -m "not keras"` for the fast core, `tools/test.sh tests/test_cli.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/test_services.sh      # Chromium + chromedriver, PostgreSQL (apt-get, when absent)
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
exec "${ARCHSPEC_VENV:-$PWD/.venv}/bin/python" -m pytest -q "$@"
