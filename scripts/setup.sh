#!/usr/bin/env bash
# Installs every Debian package posebatch needs to build, test and run its demo.
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  libhdf5-dev hdf5-tools
  libcairo2-dev fonts-dejavu-core  # labeled videos and plots (src/viz): drawing, plot text
  time  # GNU time: the CLI tests' peak-memory checks
  libyaml-cpp-dev libcli11-dev
  libeigen3-dev  # multi-animal tracking (src/track): the Kalman filters
  liblemon-dev  # multi-animal stitching (src/track): the min-cost flow (LEMON, headers only)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev  # libFuzzer targets (fuzz/, CI)
  clang-format clang-tidy  # scripts/lint.sh (CI)
  python3-torch python3-numpy python3-pandas python3-tables python3-yaml python3-torchvision
  pybind11-dev python3-dev python3-pytest python3-tqdm  # the Python package (python/) and its tests
  slurm-wlm munge  # tests/slurm: a real single-node Slurm for the campaign tests (issue 14)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
