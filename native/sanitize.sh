#!/usr/bin/env bash
# Run the tests against the C core built with AddressSanitizer and UndefinedBehaviorSanitizer.
# Builds in place (replacing breachindex/_native*.so, every unit of the core recompiled) and puts
# the normal build back when it ends, whatever the tests say. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
restore() { python setup.py -q build_ext --inplace --force >/dev/null 2>&1; }
trap restore EXIT
BREACHINDEX_SANITIZE=1 python setup.py -q build_ext --inplace --force
export ASAN_OPTIONS=detect_leaks=0  # CPython itself "leaks" by design at exit
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  PYTHONPATH=. python -m pytest -p no:cacheprovider "${@:-tests}"
