#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each on its seed corpus.
# Usage: fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]   (exit status 1 on any finding)
# POSEBATCH_FUZZ_SEED (default 1) fixes libFuzzer's random seed, so that a CI run replays the
# same mutations every time: a finding is reproducible and CI does not go red at random. Set it
# to 0 for a new random seed per run (exploring: run that for long, by hand).
# New interesting inputs go to a scratch corpus, never into the committed fuzz/corpus/; a
# crashing input is saved as BUILD_DIR/fuzz-artifacts/<target>/crash-* (add it to the corpus
# as regression_<what> once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
seconds=${2:-40}
shift 2 || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_model_file fuzz_pickle fuzz_config fuzz_video)
cmake -S . -B "$dir" -G Ninja -DPOSEBATCH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DPOSEBATCH_FUZZ=ON -DPOSEBATCH_TESTS=OFF -DPOSEBATCH_PYTHON=OFF >/dev/null
ninja -C "$dir" -j"$(nproc)" "${targets[@]}"
# LibTorch's allocator pairs new[] with free internally (not our code): see scripts/test.sh.
export ASAN_OPTIONS=alloc_dealloc_mismatch=0 UBSAN_OPTIONS=print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  art="$dir/fuzz-artifacts/$t"
  mkdir -p "$art"
  if "$dir/fuzz/$t" -seed="${POSEBATCH_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 -artifact_prefix="$art/" \
       "$scratch" "fuzz/corpus/$t" >"$art/log" 2>&1; then
    echo "fuzz: $t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$art/log" | grep -o '[0-9]*$') runs, no finding"
  else
    echo "fuzz: $t FAILED (log: $art/log)"; tail -40 "$art/log"; status=1
  fi
  rm -rf "$scratch"
done
exit $status
