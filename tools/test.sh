#!/usr/bin/env bash
# Set up a virtual environment (once), install what the tests need, and run the test suite: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# The app's browser test drives Debian's chromium. Install it where we can (root with apt-get, as on CI); elsewhere
# the test skips with its reason, unless CI=true, where a missing browser is a failure.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the app's browser test (apt-get)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: apt-get could not install chromium; the app's browser test will skip (fail with CI=true)" >&2
  else
    echo "note: chromium is missing and needs root with apt-get to install; the app's browser test will skip" \
         "(fail with CI=true)" >&2
  fi
fi
exec .venv/bin/python -m pytest -q -m "not slow" "$@"
