"""How nn's time per iteration grows with the number of examples m, next to what the flop model predicts.

    python bench/scaling.py                          # cat and wide, m = 64 ... 65536, every first-layer path
    python bench/scaling.py --max-m 8192 --workloads cat
    python bench/scaling.py --dtype float32 --threads 1

For each m: s/iter is the marginal cost of an iteration, (T(1 + n) - T(1)) / n, where T(k) is the shortest
wall time of --repeats fits of k iterations (the shortest: other load on the machine only adds time), so the once-per-fit work (validation, workspace, and on the Gram path
G = X^T X, L0 = W1 X and the final W1) is left out of it and shown on its own as "setup". The model columns
count the flops each path does (see README):
    primal, per iteration   useful flops: 2 n[l] n[l-1] m per layer forward, again for dW, again for dA_prev (l > 1)
    gram,   per iteration   2 n1 m^2 (S G) for layer 1, the primal count for layers 2..L
    gram,   once per fit    2 n_x m^2 (G) + 2 n1 n_x m (L0) + 2 n1 n_x m (W1 at the end)
"x prev" is the growth from the previous m (m doubles each row): measured next to the model's. A measured
growth more than 1.5 x the model's is marked "!" (an unexplained jump); small m is overhead-bound, where
growth below the model is expected.
"""
import argparse
import datetime
import gc
import inspect
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import thread_limit  # noqa: E402
from workloads import WORKLOADS, initial_params, make_data, useful_flops  # noqa: E402


def model(layer_dims, m, path):
    """(flops per iteration, flops once per fit) of a path."""
    n_x, n1 = layer_dims[0], layer_dims[1]
    primal = useful_flops(layer_dims, m)
    if path == "primal":
        return primal, 0
    first = 2 * 2 * n1 * n_x * m                    # W1 X and dZ1 X^T, replaced by S G
    return primal - first + 2 * n1 * m * m, 2 * n_x * m * m + 4 * n1 * n_x * m


def fit_seconds(nn, params0, w, X, Y, dtype, iterations, path, loop=None):
    """Seconds of one fit; `loop`, a list, receives how its training loop ran (loop_label)."""
    net = nn.Network.from_params([(W.copy(), b.copy()) for W, b in params0],
                                 hidden=w.hidden if w.hidden != "-" else "relu", dtype=dtype)
    kwargs = {} if path is None else {"first_layer": path}
    gc.collect()
    t = time.perf_counter()
    net.fit(X, Y, learning_rate=w.learning_rate, iterations=iterations, record_every=iterations, **kwargs)
    seconds = time.perf_counter() - t
    if loop is not None:
        loop.append(loop_label(getattr(net, "train_settings_", None)))
    return seconds


def loop_label(settings):
    """How nn's training loop ran (train_settings_), so that a change of loop between two m explains a step."""
    if not settings:
        return ""
    if settings.get("streamed_first_layer"):
        return "streamed"
    if settings.get("example_slices", 1) > 1:
        return f"team x{settings['example_slices']}"
    if settings.get("one_thread"):
        return "1 thread"
    return "openblas"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=["cat", "wide"], choices=list(WORKLOADS))
    ap.add_argument("--min-m", type=int, default=64)
    ap.add_argument("--max-m", type=int, default=65536)
    ap.add_argument("--gram-max-m", type=int, default=4096,
                    help="largest m for the gram path (G is m x m; forming it costs 2 n_x m^2 flops)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--paths", nargs="+", default=None, help="first_layer values (default: primal gram)")
    ap.add_argument("--threads", default="default", help="'default' or an integer")
    ap.add_argument("--target", type=float, default=0.5, help="seconds of iterations per timed fit")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-iterations", type=int, default=20000)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "scaling.json"))
    args = ap.parse_args(argv)

    import nn

    supported = "first_layer" in inspect.signature(nn.Network.fit).parameters
    paths = args.paths or (["primal", "gram"] if supported else [None])
    choose = getattr(getattr(nn, "network", None), "choose_first_layer", None)
    dtype = np.dtype(args.dtype)
    threads = None if args.threads == "default" else int(args.threads)
    ms = []
    m = args.min_m
    while m <= args.max_m:
        ms.append(m)
        m *= 2

    rows = []
    started = time.perf_counter()
    with thread_limit(threads):
        for name in args.workloads:
            base = WORKLOADS[name]
            for m in ms:
                w = base.with_m(m)
                X, Y = make_data(w, dtype)
                params0 = initial_params(w, dtype)
                for path in paths:
                    row = {"workload": name, "m": m, "path": path or "primal (only path)", "dtype": dtype.name}
                    per_iter, setup = model(w.layer_dims, m, path or "primal")
                    row["model_flops_per_iteration"], row["model_setup_flops"] = per_iter, setup
                    if path == "gram" and m > args.gram_max_m:
                        row["status"] = f"skipped: m > --gram-max-m (G alone would be {m * m * dtype.itemsize / 1e9:.2g} GB)"
                        rows.append(row)
                        continue
                    try:
                        loop = []
                        fit_seconds(nn, params0, w, X, Y, dtype, 1, path, loop)         # warm-up
                        t1 = fit_seconds(nn, params0, w, X, Y, dtype, 1, path)
                        n = 2
                        while True:                 # grow n until the n iterations take ~target seconds
                            tn = fit_seconds(nn, params0, w, X, Y, dtype, 1 + n, path)
                            d = tn - t1
                            # enough when the iterations take ~target and outweigh the setup's noise
                            if d >= max(0.5 * args.target, t1) or n >= args.max_iterations:
                                break
                            n = int(min(args.max_iterations,
                                        max(2 * n, math.ceil(n * max(args.target, t1) / max(d, args.target / 64)))))
                        reps = args.repeats if tn < 5 else 1
                        T1 = min([t1] + [fit_seconds(nn, params0, w, X, Y, dtype, 1, path) for _ in range(reps - 1)])
                        Tn = min([tn] + [fit_seconds(nn, params0, w, X, Y, dtype, 1 + n, path)
                                         for _ in range(reps - 1)])
                        s = max((Tn - T1) / n, 1e-9)
                        row.update(status="ok", iterations=n, seconds_per_iteration=s, setup_seconds=max(T1 - s, 0.0),
                                   model_gflops_per_second=per_iter / s / 1e9, loop=loop[0])
                    except Exception as e:  # noqa: BLE001
                        row["status"] = f"error: {type(e).__name__}: {e}"[:160]
                    if choose is not None:
                        try:
                            row["auto_picks_at_2500_iterations"] = choose(list(w.layer_dims), m, 2500, dtype.itemsize)
                        except Exception:  # noqa: BLE001
                            pass
                    rows.append(row)
                    print(f"  {name} m={m} {row['path']}: {row.get('seconds_per_iteration', row['status'])}",
                          file=sys.stderr, flush=True)
                del X, Y

    lines = [f"nn scaling  {datetime.datetime.now().isoformat(timespec='seconds')}  dtype {dtype.name}, threads "
             f"{args.threads}; load average {os.getloadavg()[0]:.2f}",
             "command: python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
             "s/iter: marginal seconds per iteration (T(1+n) - T(1)) / n; x prev: growth from the previous m, measured "
             "| model; GFLOP/s: model flops per iteration / s/iter; setup: T(1) - s/iter (on the Gram path mostly "
             "G = X^T X); auto@2500: what first_layer='auto' picks for a 2500-iteration fit; loop: how the training "
             "loop ran (streamed first layer, a team splitting the examples, OpenBLAS held at 1 thread, or OpenBLAS's "
             "own threads); * marks a growth measured across a change of loop."]
    header = (f"{'workload':8} {'path':8} {'m':>6} {'s/iter':>11} {'x prev':>7} {'model':>6} {'model GF/it':>11} "
              f"{'GFLOP/s':>8} {'setup s':>8} {'model setup GF':>14} {'auto@2500':>9} {'loop':>9}")
    for name in args.workloads:
        for path in paths:
            sel = [r for r in rows if r["workload"] == name and r["path"] == (path or "primal (only path)")]
            lines += ["", f"{name} {list(WORKLOADS[name].layer_dims)}, first_layer={path or '(no option)'}", header,
                      "-" * len(header)]
            prev = None
            for r in sel:
                head = f"{name:8} {(path or 'primal'):8} {r['m']:>6}"
                if r["status"] != "ok":
                    lines.append(f"{head} {r['status']}")
                    prev = None
                    continue
                grow = model_grow = ""
                if prev is not None:
                    g = r["seconds_per_iteration"] / prev["seconds_per_iteration"]
                    mg = r["model_flops_per_iteration"] / prev["model_flops_per_iteration"]
                    r["growth"], r["model_growth"] = g, mg
                    grow = f"{g:.2f}" + ("!" if g > 1.5 * mg else "") + ("*" if r.get("loop") != prev.get("loop") else "")
                    model_grow = f"{mg:.2f}"
                s = r["seconds_per_iteration"]
                st = f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"
                lines.append(f"{head} {st:>11} {grow:>7} {model_grow:>6} {r['model_flops_per_iteration'] / 1e9:>11.4f} "
                             f"{r['model_gflops_per_second']:>8.2f} {r['setup_seconds']:>8.3f} "
                             f"{r['model_setup_flops'] / 1e9:>14.3f} {r.get('auto_picks_at_2500_iterations', ''):>9} "
                             f"{r.get('loop', ''):>9}")
                prev = r
    text = "\n".join(lines)
    print(text)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"options": vars(args), "seconds": time.perf_counter() - started, "rows": rows, "table": text},
                      f, indent=1, default=str)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
