#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as errors, runs every
# test (C++ units, the pipeline, the CLI end to end with pandas, the sample's accuracy).
# POSEBATCH_SANITIZE=1 also builds and runs the ASan+UBSan and TSan variants, and fuzzes every
# parser of untrusted input briefly (fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
jobs=$(nproc)

build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DPOSEBATCH_WERROR=ON "$@" >/dev/null
  ninja -C "$dir" -j"$jobs"
}

build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Format (clang-format) and lint (clang-tidy, public headers naming their code): scripts/lint.sh.
bash scripts/lint.sh build
# The GPU build's switch (README "GPU build"): POSEBATCH_LIBTORCH picks the LibTorch named, and
# nothing else. Configure-only, against Debian's own TorchConfig (no CUDA LibTorch here); the
# device code paths are LibTorch's device-generic API, compiled and run (cuda refused) above.
torch_dir=$(dirname "$(dpkg -L libtorch-dev | grep '/TorchConfig.cmake$' | head -1)")
cmake -S . -B build-libtorch-switch -G Ninja -DPOSEBATCH_LIBTORCH="$torch_dir" -DPOSEBATCH_PYTHON=OFF \
  -DPOSEBATCH_TESTS=OFF | grep -F "posebatch: LibTorch 1.13.0 from $torch_dir (CUDA: OFF)"
(cd build && ctest --output-on-failure -j1 --timeout 1800)

if [ "${POSEBATCH_SANITIZE:-0}" = 1 ]; then
  # ASan + UBSan: every test, the CLI included, except those labelled slow (the ResNet-50 parity
  # runs, Faster R-CNN, stream-copied clips, labeled videos, campaigns and Slurm: minutes of
  # LibTorch or of uninstrumented tools; the normal build runs them).
  # (LibTorch itself is not instrumented; its allocator pairs new[]/free internally, hence
  # alloc_dealloc_mismatch=0.)
  # (No Python module there: an ASan-instrumented extension cannot load into an uninstrumented
  # python3; the normal build tests the package.)
  # (The normal build's fixtures are reused: make_fixtures only checks its stamp.)
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DPOSEBATCH_SANITIZE=address,undefined -DPOSEBATCH_PYTHON=OFF \
    -DPOSEBATCH_FIXTURES_DIR="$PWD/build/fixtures"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0 \
     UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j1 -LE slow)
  # TSan: the pipeline's threads. One intra-op thread so that no (uninstrumented) OpenMP
  # region runs inside LibTorch; see tests/tsan.supp.
  cmake -S . -B build-tsan -G Ninja -DPOSEBATCH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPOSEBATCH_SANITIZE=thread -DPOSEBATCH_PYTHON=OFF >/dev/null
  ninja -C build-tsan -j"$jobs" test_pipeline
  (cd build-tsan && POSEBATCH_TEST_THREADS=1 TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/../tests/tsan.supp" \
     POSEBATCH_FIXTURES="$PWD/../build/fixtures" POSEBATCH_GOLDEN="$PWD/../../shared/golden" ./tests/test_pipeline)
  # libFuzzer: a short run of every target from its committed seed corpus (fuzz/README.md).
  # Any crash, leak, sanitizer report, hang (-timeout) or memory blow-up fails CI.
  bash fuzz/run.sh build-fuzz "${POSEBATCH_FUZZ_SECONDS:-40}"
fi
