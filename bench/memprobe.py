"""Peak resident memory that one training call adds, measured in a fresh process (used by compare.py).

    python bench/memprobe.py --workload wide --impl nn --dtype float64 [--first-layer auto] [--iterations 2]

prints one JSON line: {"rss_before": bytes, "peak": bytes, "added": bytes, "x_bytes": bytes, "method": ...}.

The data, the initial parameters and the peer's own objects are made first; a 1-iteration warm-up of the same
training call on the full data loads the libraries and lets OpenBLAS touch its buffers (a one-time cost of the
library, not of a fit); then the peak-RSS counter is reset (writing 5 to /proc/self/clear_refs sets VmHWM to
the current VmRSS) and the measured call runs. "added" is VmHWM after the call minus VmRSS before it. Where
clear_refs is not available, the fallback is getrusage's ru_maxrss (which cannot be reset, so it only shows
growth above the earlier peak).

glibc's malloc raises its mmap threshold after a large block is freed, so the warm-up's buffers would be
reused from a heap that stays resident and the measured call would seem to add nothing. The process therefore
runs with a fixed threshold (MALLOC_MMAP_THRESHOLD_, set by compare.py or re-exec'd here): every large buffer
is its own mapping, returned on free and counted afresh when the measured call touches it.
"""
import argparse
import gc
import json
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import make_runner  # noqa: E402
from workloads import WORKLOADS, initial_params, make_data, x_bytes  # noqa: E402


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


MMAP_THRESHOLD = str(128 * 1024)


def main():
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:  # see the docstring
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--impl", default="nn")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--first-layer", default=None)
    ap.add_argument("--iterations", type=int, default=2)
    args = ap.parse_args()

    w = WORKLOADS[args.workload]
    dtype = np.dtype(args.dtype)
    X, Y = make_data(w, dtype)
    params0 = initial_params(w, dtype)

    runner = make_runner(args.impl, w, X, Y, params0, dtype, args.first_layer)
    runner.reset()
    runner.train(1)  # warm-up: libraries loaded, OpenBLAS buffers touched
    runner.reset()
    gc.collect()
    if reset_peak():
        method = "VmHWM after clear_refs"
        before = status_kb("VmRSS")
        runner.train(args.iterations)
        peak = status_kb("VmHWM")
    else:
        method = "ru_maxrss"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        runner.train(args.iterations)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rss_before": before, "peak": peak, "added": max(0, peak - before),
                      "x_bytes": x_bytes(w, dtype), "method": method}))


if __name__ == "__main__":
    main()
