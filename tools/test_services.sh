#!/usr/bin/env bash
# The Debian packages some tests need beyond tools/setup.sh's: Chromium and its WebDriver (the Model
# Explorer browser test, tests/test_view.py) and the PostgreSQL server programs (the distributed-search
# tests start a throwaway cluster of their own, tools/pgserver.py; the system's cluster is not used).
# Installed with apt-get when absent — as root, or through sudo; otherwise it says what to install.
# tools/test.sh runs it before the tests; ARCHSPEC_SKIP_SERVICES=1 skips it.
set -euo pipefail
[ "${ARCHSPEC_SKIP_SERVICES:-0}" = "1" ] && exit 0
say() { echo "test_services: $*" >&2; }

need=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else
    say "the browser and PostgreSQL tests need the Debian package(s) ${need[*]}: apt-get install ${need[*]}"; exit 0
  fi
fi
say "installing the Debian package(s) ${need[*]}"
$sudo apt-get update -qq
# the postgresql package's own cluster is not needed: do not start services from a package script
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
