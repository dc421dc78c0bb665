#!/usr/bin/env bash
# Run the tests against the C core built with AddressSanitizer and UndefinedBehaviorSanitizer.
# Builds in place (replacing breachindex/_native*.so); `python setup.py build_ext --inplace`
# afterwards restores the normal build. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f breachindex/_native*.so
BREACHINDEX_SANITIZE=1 python setup.py -q build_ext --inplace
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0  # CPython itself "leaks" by design at exit
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
PYTHONPATH=. python -m pytest -p no:cacheprovider "${@:-tests}"
