"""Leak checks that count what a leak changes (issue 31): the live heap after each input, or every
100 frames, as the library's POSEBATCH_HEAP_TRACE hook writes it (src/common/heap_trace.h), and
the slope of a straight line fitted through it. Peak RSS moves by tens of MiB between runs
without a leak (heap fragmentation, thread timing), so it is not what these assert."""
import os
import subprocess
import tempfile

import numpy as np

MIB = 1 << 20


def traced(command, timeout=900, **kwargs):
    """Runs `command` (a list) with the hook on; returns (completed process, {event: [(count, bytes)]})."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "heap.trace")
        env = dict(kwargs.pop("env", os.environ), POSEBATCH_HEAP_TRACE=path)
        p = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
        events = {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    event, count, live = line.split()
                    events.setdefault(event, []).append((int(count), int(live)))
    return p, events


def slope(points, skip):
    """Theil-Sen slope (the median of the slopes between every two points; bytes per count) of
    the points after the first `skip` (the heap's one-time growth while caches, pools and the
    first batches settle). Robust where a least-squares line is not: samples taken mid-run jump
    between two or three levels (what is in flight at that moment, ~3 MiB here), which moved a
    least-squares slope by up to 900 bytes per frame between clean runs, Theil-Sen's by 190."""
    x, y = np.array(points[skip:], dtype=np.float64).T
    i, j = np.triu_indices(len(x), 1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))
