#!/usr/bin/env bash
# The C core and the single-lookup module compiled with warnings as errors, by every compiler
# there is of gcc and clang (the fuzz harnesses get the same flags in native/fuzz/run.sh). .ci/run
# runs it as its own step; it builds nothing that the package uses.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a core <<<"$(python native/build_native.py --sources)"
py_include=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
strict=(-std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wconversion
        -Wno-sign-conversion)
compilers=()
for cc in gcc clang; do
  command -v "$cc" >/dev/null && compilers+=("$cc")
done
if [ ${#compilers[@]} -eq 0 ]; then
  echo "warnings: neither gcc nor clang is installed" >&2
  exit 2
fi
for cc in "${compilers[@]}"; do
  for src in "${core[@]}"; do
    "$cc" "${strict[@]}" -I native -c "$src" -o "$out/$(basename "$src").o"
  done
  "$cc" -std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
    -Wno-cast-function-type -DPy_LIMITED_API=0x030A0000 -I "$py_include" -I native \
    -c native/fastcall.c -o "$out/fastcall.o"
  echo "warnings: ${#core[@]} core units and fastcall.c compile cleanly with $cc"
done
