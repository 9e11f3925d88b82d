#!/usr/bin/env bash
# Installs posebatch from the build tree into a temporary prefix, builds tests/install/consumer
# against it with find_package(posebatch), runs it on a video and checks that its .h5 equals
# the CLI's. Usage: install_test.sh BUILD_DIR MODEL VIDEO
set -euo pipefail
build=$1 model=$2 video=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# Nothing internal is installed: no src/ headers, no yaml-cpp in the public interface.
test -f "$tmp/prefix/include/posebatch/analyze.h"
test -f "$tmp/prefix/include/posebatch/version.h"
if ls "$tmp/prefix/include" | grep -qv '^posebatch$'; then echo "unexpected headers installed"; exit 1; fi
# A static library must name its private dependencies for the link, but only for the link.
if grep -o '[^;"]*yaml-cpp[^;"]*' "$tmp/prefix/lib/cmake/posebatch/posebatchTargets.cmake" | grep -v 'LINK_ONLY'; then
  echo "yaml-cpp leaks through the public target"; exit 1
fi
cmake -S "$here/consumer" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$tmp/build" >/dev/null
mkdir -p "$tmp/lib" "$tmp/cli"
"$tmp/build/consumer" "$model" "$video" "$tmp/lib" > "$tmp/lib.out"
grep -q "^posebatch [0-9]" "$tmp/lib.out"
"$tmp/prefix/bin/posebatch" analyze "$model" "$video" --dest "$tmp/cli" --csv -q > /dev/null
n=0
for f in "$tmp/cli"/*.h5 "$tmp/cli"/*.csv; do
  cmp "$f" "$tmp/lib/$(basename "$f")"
  n=$((n + 1))
done
[ "$n" -ge 2 ]
echo "install_test: find_package(posebatch) consumer built; its $n files equal the installed CLI's"
