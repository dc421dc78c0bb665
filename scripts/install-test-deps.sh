#!/usr/bin/env bash
# System packages the tests use beyond Python's: Debian's headless Chromium and its driver, for
# the end-to-end test of the check page. Installs them when missing and apt-get is usable (root);
# elsewhere it says what to install, and that test skips with the same reason.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "install-test-deps: chromium and chromium-driver are missing and cannot be installed here" \
       "(need Debian's apt-get as root); the browser test will be skipped" >&2
fi
