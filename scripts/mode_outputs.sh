#!/usr/bin/env bash
# Every mode's output files, threaded and sequential (--no-async), for comparing two builds byte
# for byte (a refactor must leave them identical): scripts/mode_outputs.sh OUT [BUILD]
# then `diff -r OUT_before OUT_after` (the _meta.pickle files hold run times; compare their
# .txt dumps). Runs in about 30 s on 2 cores; needs the fixtures (ctest -R make_fixtures).
set -u
cd "$(dirname "$0")/.."
build=$(cd "${2:-build}" && pwd)  # absolute: image rows are indexed by the paths given
B=$build/posebatch; F=$build/fixtures; O=$1; rm -rf "$O"; mkdir -p "$O"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
V=$F/videos/index_h264.mp4
python3 - <<'PY' > $tmp/boxes.json
import json
print(json.dumps({str(i): [[20+5*j+i, 30+3*j, 60+2*i, 70, 0.9-0.1*j] for j in range(i % 3)] for i in range(12)}))
PY
python3 - <<'PY' > $tmp/cond.json
import json
print(json.dumps([[[[40+120*a+10*j+i%7, 60+15*j+3*a, 0.3+0.1*j] for j in range(5)] for a in range(i % 3)] for i in range(8)]))
PY
run() { name=$1; shift; for mode in async seq; do
  extra=(); [ $mode = seq ] && extra=(--no-async)
  $B analyze "$@" --dest $O/$name.$mode --csv -q -t 2 "${extra[@]}" > $O/$name.$mode.log 2>&1; echo "$name $mode rc=$?" >> $O/rc.txt
done; }
run bu_good $F/models/good $V --frames 0:40 -b 3
run bu_r50 $F/dlc/r50_bu_single.pt $V --frames 0:6 -b 4
run paf $F/dlc/r50_paf_multi.pt $V --frames 0:6 -b 4
run dekr $F/dlc/dekr_w18_multi.pt $V --frames 0:4 -b 2
run td_det $F/dlc/td_ssdlite_r50.pt $V --frames 0:6 -b 4 --detector-batch-size 2
run td_boxes $F/dlc/td_ssdlite_r50.pt $V --frames 0:12 -b 3 --boxes $tmp/boxes.json
run td_tiny $F/models/td_tiny $V --frames 0:12 -b 3 --boxes $tmp/boxes.json
run ctd_file $F/dlc/ctd_rtmpose_s.pt $V --frames 0:8 -b 3 --conditions $tmp/cond.json
run ctd_model $F/dlc/ctd_rtmpose_s.pt $V --frames 0:5 -b 3 --conditions-model $F/dlc/hrnet_w32_bu_single.pt --detector-batch-size 3
run ctd_track_file $F/dlc/ctd_rtmpose_s.pt $V --frames 0:8 -b 2 --conditions $tmp/cond.json --ctd-tracking-config bu_min_frequency=2
run ctd_track_model $F/dlc/ctd_rtmpose_s.pt $V --frames 0:5 -b 2 --conditions-model $F/dlc/hrnet_w32_bu_single.pt --ctd-tracking
run ctd_hrnet $F/dlc/ctd_hrnet_w32.pt $V --frames 0:4 -b 2 --conditions $tmp/cond.json
run images $F/models/good $F/images -b 2
# h5 and pickles dumped as text with full precision
/usr/bin/python3 - $O <<'PY'
import sys, glob, os, pickle, pandas as pd, numpy as np
np.set_printoptions(precision=10, threshold=10**9)
for f in sorted(glob.glob(sys.argv[1] + "/*/*")):
    if f.endswith(".h5"):
        with pd.HDFStore(f, "r") as s:
            txt = "".join(f"{k}\n{s[k].to_csv(float_format='%.9g')}" for k in s.keys())
    elif f.endswith(".pickle"):
        d = pickle.load(open(f, "rb"))
        if "meta" in os.path.basename(f):
            d = {k: v for k, v in d.get("data", d).items() if k not in ("run_duration", "start", "stop", "date")} if isinstance(d, dict) else d
        txt = repr(d)
    else: continue
    open(f + ".txt", "w").write(txt)
PY
