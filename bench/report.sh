#!/usr/bin/env bash
# bench/report.sh: reruns, on this machine and in one run, the benchmark commands behind the
# tables of docs/benchmarks.md, and prints markdown: above each result the machine (CPU model,
# cores, nproc), the commit (-dirty when tracked files have changes), the date and the exact
# command that produced it.
#
# Usage: bench/report.sh [--quick] [--out FILE] [--only SECTION[,SECTION...]] [--list]
#   --quick      smoke test (a few minutes on 2 cores): 4 frames per run (16 for the sample
#                model), 1 repeat, fewer batch sizes, the smallest model of each table (the
#                sample model for the campaign and labeled-video runs); the figures mean nothing
#   --out FILE   also write the markdown to FILE (relative to the current folder; written as it
#                goes: a failed run leaves the sections done so far)
#   --only S,... run only these sections (see --list)
#   --list       list the sections and exit
# Environment:
#   BUILD            build folder (default: build): $BUILD/posebatch-bench, $BUILD/posebatch and
#                    the fixtures in $BUILD/fixtures (made by `ctest -R make_fixtures`)
#   POSEBATCH_BIN    the posebatch CLI (default: $BUILD/posebatch)
#   POSEBATCH_BENCH  posebatch-bench (default: $BUILD/posebatch-bench)
#   SHARED           the shared data folder (default: ../shared): real/ (open-field video, labelled
#                    frames) and golden/ (DeepLabCut's golden cases)
#   PYTHON           the Python that runs bench/*.py (default: /usr/bin/python3, Debian's, with torch)
# Run from anywhere; relative paths in BUILD, SHARED, ... are relative to the repository root.
# Nothing is written outside temporary folders, except --out FILE.
set -euo pipefail

CALLER=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECTIONS=(precision layout accuracy campaign labeled resnet50 sample topdown ctd paf)
declare -A TITLE=(
  [precision]="Precision: float32, bf16, int8 (docs/benchmarks.md, AMD EPYC tables)"
  [layout]="Memory layout, GFLOP/s ÷ peak (the --no-channels-last / --channels-last rows)"
  [accuracy]="Accuracy of bf16 and int8 on the 116 labelled open-field frames"
  [campaign]="Campaigns: sharding cost and shard balance"
  [labeled]="Labeled video in the pass"
  [resnet50]="ResNet-50, real 640x480 video, NCHW (Intel Xeon tables)"
  [sample]="The bundled sample model (TorchScript), its 320x240 video"
  [topdown]="Top-down: detector + ResNet-50 pose on 256x256 crops"
  [ctd]="Conditional top-down: bottom-up conditions model + CTD RTMPose-s, and tracking"
  [paf]="Multi-animal (PAF): ResNet-50 + DLCRNetHead, grouping on"
)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench/report.sh: error: $*" >&2; exit 1; }

QUICK=0 OUT="" ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a file name"; OUT=$2; shift ;;
    --out=*) OUT=${1#--out=} ;;
    --only) [[ $# -ge 2 ]] || die "--only needs a section list"; ONLY=$2; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --list) for s in "${SECTIONS[@]}"; do printf '%-10s %s\n' "$s" "${TITLE[$s]}"; done; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

if [[ -n "$OUT" && "$OUT" != /* ]]; then OUT=$CALLER/$OUT; fi  # --out is relative to where it was called

SELECTED=("${SECTIONS[@]}")
if [[ -n "$ONLY" ]]; then
  IFS=, read -r -a SELECTED <<<"$ONLY"
  for s in "${SELECTED[@]}"; do [[ -n "${TITLE[$s]+x}" ]] || die "unknown section '$s' (see --list)"; done
fi

BUILD=${BUILD:-build}
POSEBATCH=${POSEBATCH_BIN:-$BUILD/posebatch}
BENCH=${POSEBATCH_BENCH:-$BUILD/posebatch-bench}
FIX=$BUILD/fixtures
DLC=$FIX/dlc
SHARED=${SHARED:-../shared}
PY=${PYTHON:-/usr/bin/python3}
V=$SHARED/real/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4
SAMPLE_MODEL=samples/synth/model
SAMPLE_VIDEO=samples/synth/video.mp4

# ---- checks: everything the selected sections need, before anything runs -----------------
MISSING=()
need_exe() {  # a path to an executable, or a command name on PATH
  { [[ -x "$1" && ! -d "$1" ]] || { [[ "$1" != */* ]] && command -v -- "$1" >/dev/null 2>&1; }; } ||
    MISSING+=("$1 (${2:-executable}) not found")
}
need_file() { [[ -e "$1" ]] || MISSING+=("$1 (${2:-file}) not found"); }
need_cmd() { command -v "$1" >/dev/null 2>&1 || MISSING+=("command '$1' not found (${2:-needed})"); }
fixture() { need_file "$1" "fixture: run 'ctest --test-dir $BUILD -R make_fixtures'"; }

need_cmd git; need_cmd nproc
need_exe "$PY" "Python with torch; set PYTHON"
for s in "${SELECTED[@]}"; do
  case "$s" in
    precision|layout)
      need_exe "$BENCH" "posebatch-bench: build the posebatch_bench target"; need_file "$V" "the real video"
      fixture "$DLC/dekr_w18_multi.pt"; fixture "$DLC/td_ssdlite_r50.pt"
      if [[ $QUICK == 0 ]]; then fixture "$DLC/real.pt"; fixture "$DLC/hrnet_w32_bu_single.pt"; fi ;;
    accuracy)
      need_exe "$POSEBATCH" "posebatch: build the posebatch_cli target"; fixture "$DLC/real.pt"
      need_file "$SHARED/real" "the real open-field data" ;;
    campaign)
      need_exe "$POSEBATCH" "posebatch: build the posebatch_cli target"; need_cmd ffmpeg; need_cmd ffprobe
      need_file "$SAMPLE_MODEL"; need_file "$SAMPLE_VIDEO"
      if [[ $QUICK == 0 ]]; then fixture "$DLC/real.pt"; need_file "$V" "the real video"; fi ;;
    labeled)
      need_exe "$BENCH" "posebatch-bench"
      if [[ $QUICK == 0 ]]; then fixture "$DLC/real.pt"; need_file "$V" "the real video"
      else need_file "$SAMPLE_MODEL"; need_file "$SAMPLE_VIDEO"; fi ;;
    resnet50)
      need_exe "$BENCH" "posebatch-bench"; fixture "$DLC/real.pt"; need_file "$V" "the real video" ;;
    sample)
      need_exe "$BENCH" "posebatch-bench"; need_file "$SAMPLE_MODEL"; need_file "$SAMPLE_VIDEO" ;;
    topdown)
      need_exe "$BENCH" "posebatch-bench"; need_file "$V" "the real video"; fixture "$DLC/td_ssdlite_r50.pt"
      if [[ $QUICK == 0 ]]; then fixture "$DLC/td_frcnn_r50.pt"; fi ;;
    ctd)
      need_exe "$BENCH" "posebatch-bench"; need_cmd ffmpeg; fixture "$DLC/ctd_rtmpose_s.pt"
      need_file "$SHARED/golden/dekr_w18_multi" "the golden DEKR case"; need_file "$SAMPLE_VIDEO" ;;
    paf)
      need_exe "$BENCH" "posebatch-bench"; need_file "$V" "the real video"; fixture "$DLC/r50_paf_multi.pt" ;;
  esac
done
if [[ ${#MISSING[@]} -gt 0 ]]; then
  printf 'bench/report.sh: error: %s\n' "${MISSING[@]}" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/posebatch-report.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [[ -n "$OUT" ]]; then : >"$OUT" || die "cannot write $OUT"; fi

# ---- output -----------------------------------------------------------------------------
emit() {  # emit LINE...: to stdout and to --out FILE
  printf '%s\n' "$@"
  if [[ -n "$OUT" ]]; then printf '%s\n' "$@" >>"$OUT"; fi
}

cpu_model() {
  local m
  m=$(grep -m1 -E '^(model name|Model|cpu model)[[:space:]]*:' /proc/cpuinfo 2>/dev/null | cut -d: -f2- || true)
  m=${m#"${m%%[![:space:]]*}"}
  echo "${m:-unknown CPU}"
}
cpu_cores() {  # physical cores (distinct physical id / core id pairs), else the logical count
  local n
  n=$(awk -F: '/^physical id/ {p=$2} /^core id/ {print p "/" $2}' /proc/cpuinfo 2>/dev/null | sort -u | wc -l)
  [[ "$n" -gt 0 ]] || n=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null || echo "?")
  echo "$n"
}
commit() {
  local c
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git update-index -q --refresh >/dev/null 2>&1 || true
  if ! git diff-index --quiet HEAD -- 2>/dev/null; then c="$c-dirty"; fi
  echo "$c"
}
MACHINE="$(cpu_model), $(cpu_cores) cores, $(grep -c '^processor' /proc/cpuinfo || true) logical CPUs, nproc $(nproc)"
COMMIT=$(commit)

quote() { local out="" a; for a in "$@"; do out+="$(printf '%q' "$a") "; done; echo "${out% }"; }

# run TITLE CMD...: runs the command (its stderr, the progress, goes to the terminal) and emits the
# header and its markdown output.
run() {
  local title=$1; shift
  local cmd date t
  cmd=$(quote "$@")
  date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
  t="$WORK/out.md"
  echo ">>> $cmd" >&2
  if ! "$@" >"$t"; then
    die "this command failed (exit status above; report so far${OUT:+ in $OUT}):
    $cmd"
  fi
  emit "### $title" "" \
    "- machine: $MACHINE" \
    "- commit: $COMMIT" \
    "- date: $date" \
    "- command: \`$cmd\`" ""
  # the scripts' own markdown headings go below this one
  emit "$(sed 's/^\(#\{1,\}\) /\1### /' "$t")" ""
}
# prep CMD...: a preparation step (model makers, a re-encoded video), noted in the report.
prep() {
  local cmd
  cmd=$(quote "$@")
  echo ">>> $cmd" >&2
  "$@" >"$WORK/prep.log" 2>&1 || { cat "$WORK/prep.log" >&2; die "preparation failed: $cmd"; }
  emit "- prepared with: \`$cmd\`"
}

# Quick mode: few frames, one repeat, one batch size.
q() { if [[ $QUICK == 1 ]]; then echo "$2"; else echo "$1"; fi; }

emit "# posebatch benchmark report" "" \
  "- machine: $MACHINE" \
  "- commit: $COMMIT" \
  "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
  "- build: $BUILD ($BENCH, $POSEBATCH)" ""
if [[ $QUICK == 1 ]]; then
  emit "**--quick: a smoke test (few frames, 1 repeat, the smallest models); these figures are not" \
       "comparable with docs/benchmarks.md.**" ""
fi
emit "Tables measured before issue 16 ran in NCHW, then the default: their commands get" \
     "\`--no-channels-last\` here (posebatch-bench's RSS children and the CTD conditions model load" \
     "with today's default layout)." ""

# ---- sections ---------------------------------------------------------------------------
section_precision() {  # AMD EPYC, commit f0387d4: --precision float32|bf16|int8, batch 1, 2 threads
  local p
  for p in float32 bf16 int8; do
    if [[ $QUICK == 0 ]]; then
      run "ResNet-50 (real.pt), --precision $p" \
        "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1 -r 2 --frames 12 --python --precision "$p"
      run "HRNet-W32 (golden export), --precision $p" \
        "$BENCH" -m "$DLC/hrnet_w32_bu_single.pt" -v "$V" -b 1 -r 2 --frames 8 --precision "$p"
    fi
    # DEKR-W18: the README recorded no command; run as the HRNet line.
    run "DEKR-W18 (golden export), --precision $p" \
      "$BENCH" -m "$DLC/dekr_w18_multi.pt" -v "$V" -b 1 -r "$(q 2 1)" --frames "$(q 8 4)" --precision "$p"
    run "top-down SSDLite + ResNet-50 pose, --precision $p" \
      "$BENCH" -m "$DLC/td_ssdlite_r50.pt" -v "$V" -b 8 --detector-batch 4 -r 1 --frames "$(q 12 4)" \
      --precision "$p"
  done
}

section_layout() {  # AMD EPYC, commits 6f61206-04eb105; the default and bf16 rows: section precision
  emit "(The layout table's default and \`--precision bf16\` rows are the precision section's" \
       "float32 and bf16 runs.)" ""
  if [[ $QUICK == 0 ]]; then
    run "ResNet-50 (real.pt), --no-channels-last" \
      "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1 -r 2 --frames 12 --python --no-channels-last
    run "HRNet-W32 (golden export), --no-channels-last" \
      "$BENCH" -m "$DLC/hrnet_w32_bu_single.pt" -v "$V" -b 1 -r 2 --frames 8 --no-channels-last
  fi
  run "DEKR-W18 (golden export), --no-channels-last" \
    "$BENCH" -m "$DLC/dekr_w18_multi.pt" -v "$V" -b 1 -r "$(q 2 1)" --frames "$(q 8 4)" --no-channels-last
  run "top-down SSDLite + ResNet-50 pose, --channels-last" \
    "$BENCH" -m "$DLC/td_ssdlite_r50.pt" -v "$V" -b 8 --detector-batch 4 -r 1 --frames "$(q 12 4)" \
    --channels-last
}

section_accuracy() {  # AMD EPYC, commit f0387d4
  run "bf16 and int8 against float32, and against the human labels" \
    "$PY" bench/precision_accuracy.py --bin "$POSEBATCH" --model "$DLC/real.pt" --real "$SHARED/real" \
    --precisions "$(q float32,bf16,int8 float32,int8)"
}

section_campaign() {  # 2-core VM, commit aa59bf5
  if [[ $QUICK == 0 ]]; then
    run "the sample model, 8 videos, 4 shards, --threads 1" \
      "$PY" bench/campaign_bench.py --bin "$POSEBATCH" --videos 8 --frames 600 --shards 4 --extra "--threads 1"
    run "ResNet-50, real 640x480 video, 8 videos, 4 shards" \
      "$PY" bench/campaign_bench.py --bin "$POSEBATCH" --model "$DLC/real.pt" --video "$V" --videos 8 \
      --frames 150 --repeats 1 --extra "--no-channels-last"
  else
    run "the sample model, 2 videos, 2 shards, --threads 1" \
      "$PY" bench/campaign_bench.py --bin "$POSEBATCH" --videos 2 --frames 30 --shards 2 --repeats 1 \
      --extra "--threads 1"
  fi
}

section_labeled() {  # 2-core VM, commit 16b763f
  if [[ $QUICK == 0 ]]; then
    run "ResNet-50, plain and --labeled-video runs interleaved" \
      "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1,8 -r 2 --frames 16 --labeled-video --no-channels-last
  else
    run "the sample model, plain and --labeled-video runs interleaved" \
      "$BENCH" -m "$SAMPLE_MODEL" -v "$SAMPLE_VIDEO" -b 1 -r 1 --frames 4 --labeled-video
  fi
}

section_resnet50() {  # Intel Xeon, commit 7e90ba5 (main, assembly, RSS, Python) and 44b8e9e (batch 1)
  if [[ $QUICK == 0 ]]; then
    # The README listed -r 3 --frames 64; its table says 2 repeats and 48 frames: run what the table says.
    run "ResNet-50, batch 1/8/32, assembly, RSS, Python reference" \
      "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1,8,32 -r 2 --frames 48 --assembly 1,8,64,256 --rss \
      --rss-frames 16 --python --no-channels-last
    run "ResNet-50, batch 1 on a quiet machine, Python reference" \
      "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1 -r 2 --frames 32 --python --no-channels-last
  else
    run "ResNet-50, batch 1, assembly, RSS, Python reference" \
      "$BENCH" -m "$DLC/real.pt" -v "$V" -b 1 -r 1 --frames 4 --assembly 1,8 --rss --rss-frames 2 --python \
      --no-channels-last
  fi
}

section_sample() {  # Intel Xeon, figures of 9ac4206; RSS at 7e90ba5 (the same --rss, batch 1)
  if [[ $QUICK == 0 ]]; then
    run "the sample model, batch 1/8/32, 1 and 2 workers, assembly, RSS, Python reference" \
      "$BENCH" -m "$SAMPLE_MODEL" -v "$SAMPLE_VIDEO" -b 1,8,32 -w 1,2 -r 3 --assembly 1,8,64,256 --rss \
      --rss-frames 24 --python
  else
    run "the sample model, batch 1/8, assembly, RSS, Python reference" \
      "$BENCH" -m "$SAMPLE_MODEL" -v "$SAMPLE_VIDEO" -b 1,8 -r 1 --frames 16 --assembly 1,8 --rss \
      --rss-frames 4 --python
  fi
}

section_topdown() {  # Intel Xeon, commit 8819644
  local models="$DLC/td_ssdlite_r50.pt,$DLC/td_frcnn_r50.pt"
  [[ $QUICK == 0 ]] || models="$DLC/td_ssdlite_r50.pt"
  run "top-down, detector batch 4, pose batch 8" \
    "$BENCH" -m "$models" -v "$V" -b 8 --detector-batch 4 -r 1 --frames "$(q 12 4)"
}

section_ctd() {  # Intel Xeon, commit ab44770
  emit "### CTD: preparation" ""
  prep "$PY" bench/make_ctd_bench_model.py "$SHARED/golden" "$WORK/dekr5.pt"
  prep "$PY" bench/make_ctd_tracking_model.py "$DLC/ctd_rtmpose_s.pt" "$WORK/ctd_x1000.pt"
  prep ffmpeg -nostdin -loglevel error -y -i "$SAMPLE_VIDEO" -vf scale=640:480 "$WORK/video640.mp4"
  emit ""
  run "CTD with conditions from the bottom-up model, and tracking" \
    "$BENCH" -m "$WORK/ctd_x1000.pt" --conditions-model "$WORK/dekr5.pt" -v "$WORK/video640.mp4" \
    --frames "$(q 16 4)" -b 8 --detector-batch 2 -t 2 -r "$(q 2 1)" --ctd-tracking --no-channels-last
}

section_paf() {  # Intel Xeon, commit 44b8e9e
  emit "### PAF: preparation" ""
  prep "$PY" bench/make_paf_bench_model.py "$DLC/r50_paf_multi.pt" "$WORK/r50_paf_bench.pt" --scale 50 --shift -12
  emit ""
  if [[ $QUICK == 0 ]]; then
    run "PAF, a trained model's peak count and the worst case" \
      "$BENCH" -m "$WORK/r50_paf_bench.pt,$DLC/r50_paf_multi.pt" -v "$V" -b 1,8 -r 2 --frames 24 -t 2 \
      --no-channels-last
  else
    run "PAF, a trained model's peak count" \
      "$BENCH" -m "$WORK/r50_paf_bench.pt" -v "$V" -b 1 -r 1 --frames 4 -t 2 --no-channels-last
  fi
}

for s in "${SELECTED[@]}"; do
  emit "## ${TITLE[$s]}" ""
  "section_$s"
done
echo "bench/report.sh: done${OUT:+, report in $OUT}" >&2
