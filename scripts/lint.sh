#!/usr/bin/env bash
# The format and lint checks CI runs (scripts/test.sh, after the normal build):
#   clang-format --dry-run -Werror over every C++ file of the tree (.clang-format);
#   clang-tidy (.clang-tidy; src/pipeline/.clang-tidy) over src/ and tools/, warnings as errors.
# Usage: scripts/lint.sh [BUILD_DIR]   (default build; its compile_commands.json is read)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
/usr/bin/python3 scripts/check_headers.py
mapfile -t cxx < <(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')
clang-format --dry-run -Werror "${cxx[@]}"
echo "lint: clang-format: ${#cxx[@]} files formatted"

# clang-tidy reads the build's compile commands, less GCC's precompiled header (which clang
# cannot read); GCC-only attributes (exact_linear.cc's optimize("fp-contract=off")) are not
# clang's to judge.
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
/usr/bin/python3 - "$build/compile_commands.json" "$db/compile_commands.json" <<'PY'
import json, re, sys
entries = json.load(open(sys.argv[1]))
for e in entries:
    e["command"] = re.sub(r"-include \S*cmake_pch\.hxx|-Winvalid-pch", "", e["command"])
json.dump(entries, open(sys.argv[2], "w"))
PY
mapfile -t sources < <(git ls-files 'src/*.cc' 'tools/*.cc')
filter() { grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter' || true; }
if ! printf '%s\0' "${sources[@]}" | xargs -0 -P"$(nproc)" -n4 clang-tidy -p "$db" --quiet --warnings-as-errors='*' \
    --extra-arg=-Wno-unknown-attributes 2>&1 | filter; then
  echo "lint: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "lint: clang-tidy: ${#sources[@]} files clean"
