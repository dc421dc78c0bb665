#!/usr/bin/env bash
# Builds each libFuzzer harness of the C core (native/fuzz/fuzz_*.c, with clang's
# -fsanitize=fuzzer,address,undefined) and runs it for SECONDS seconds (default 60) on a fresh copy
# of its seed corpus (native/fuzz/corpus/NAME; the corpus in the repo is never written). Exits
# non-zero if any harness crashes, leaks, trips a sanitizer or fails one of its checks; the input
# is kept as build/fuzz/crash-NAME-* and the line to reproduce it is printed. Then: fix the bug,
# add the input to native/fuzz/corpus/NAME (tests/native/test_native_fuzz_corpus.py replays it in every
# test run) and write a regression test. Needs clang (Debian: apt-get install clang).
#
#   bash native/fuzz/run.sh [SECONDS] [NAME ...]     e.g. bash native/fuzz/run.sh 60 lines
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(lines phone table)
fi
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz: $cc is missing (Debian: apt-get install clang); scripts/install-test-deps.sh installs it" >&2
  exit 2
fi
out=build/fuzz
mkdir -p "$out"
read -r -a core <<<"$(python native/build_native.py --sources)"
status=0
for name in "${names[@]}"; do
  bin="$out/fuzz_$name"
  "$cc" -g -O1 -std=c11 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=all -fno-omit-frame-pointer -I native \
    "native/fuzz/fuzz_$name.c" "${core[@]}" -pthread -o "$bin"
  work="$out/work-$name"
  rm -rf "$work" && mkdir -p "$work"
  dict=()
  if [ -f "native/fuzz/$name.dict" ]; then
    dict=(-dict="native/fuzz/$name.dict")
  fi
  log="$out/$name.log"
  rm -f "$out"/crash-"$name"-*
  started=$(date +%s)
  set +e
  "$bin" "$work" "native/fuzz/corpus/$name" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crash-$name-" \
    "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "fuzz $name: ${runs:-?} runs in $(($(date +%s) - started)) s (${rate:-?} a second), exit $rc"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E "ERROR|check failed|SUMMARY|runtime error" "$log" | head -20 >&2 || true
    for crash in "$out"/crash-"$name"-*; do
      [ -e "$crash" ] && echo "fuzz $name: reproduce with: $bin $crash" >&2
    done
  fi
done
exit "$status"
