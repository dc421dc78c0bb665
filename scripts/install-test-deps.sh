#!/usr/bin/env bash
# System packages the checks use beyond Python's: Debian's headless Chromium and its driver, for
# the end-to-end test of the check page; clang (with its libFuzzer and sanitizers) and
# clang-format, for the fuzzing, C warnings and C format steps of .ci/run; Node.js, for the check
# that an evidence bundle verifies without breachindex (scripts/verify_bundle.mjs); DejaVu fonts,
# for the letters' PDFs; PostgreSQL's server, for the tests of the campaign store on PostgreSQL
# (they start a throw-away cluster of their own, tests/helpers/postgres.py). Installs the missing
# ones when apt-get is usable (root); elsewhere it says what to install: the browser test and the
# PostgreSQL variants then skip with the reason, and those .ci/run steps fail.
set -euo pipefail
missing=()
for pair in chromium:chromium chromedriver:chromium-driver clang:clang clang-format:clang-format node:nodejs; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install-test-deps: ${missing[*]} missing and cannot be installed here" \
       "(need Debian's apt-get as root); without chromium the browser test is skipped," \
       "without clang the fuzzing step of .ci/run fails" >&2
fi
