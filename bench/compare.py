"""nn against nn.reference (NumPy), PyTorch and scikit-learn on the workloads of issue 4.

    python bench/compare.py                      # every workload and peer, default threads and 1 thread
    python bench/compare.py --quick              # a smoke run (~1-2 minutes)
    python bench/compare.py --workloads cat wide --peers nn torch --threads default

Every implementation trains the same network from the same initial weights on the same data (see
workloads.py), first for a fixed number of iterations to check that the final costs agree, then for a number
of iterations chosen so that one timed call lasts about --target seconds, --repeats times; the table gives the
median. See bench/README.md for the columns.
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import (IMPLS, PeerUnavailable, installed, make_runner, nn_first_layer_supported, other_blas,  # noqa: E402
                   nn_variants, products_apply, thread_limit)
from workloads import WORKLOADS, call_flops, cost64, initial_params, make_data, useful_flops, x_bytes  # noqa: E402

# Agreement of the final cost after the check iterations, relative to the float64 oracle (nn.reference in
# float64 when it runs, else nn float64). See README "Agreement" for why these numbers.
RTOL = {"float64": 1e-9, "float32": 1e-3}
PEAK_N = 2048

# Seconds of rest before every sized or timed call. A library's idle threads keep a core busy for a while after
# its last call: OpenBLAS's spin for 2^28 TSC cycles before they sleep (0.10 s at this machine's 2.6 GHz), and
# the row that runs next shares a core with them. Measured on deep float64 at 2 threads: PyTorch took 55.3
# against 53.3 ms per iteration right after nn.reference's last NumPy product (medians of 5), nn 54.2 against
# 51.1; after a pause of 0.1 s or more nn took 50.1-51.1 ms. The pause lets every row start on a quiet machine
# whatever ran before it.
SETTLE_SECONDS = 0.2


# --------------------------------------------------------------------------------------------- helpers


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measure_peak(dtype, threads, repeats=5):
    """GFLOP/s of NumPy's A @ B, 2048 x 2048, best of `repeats` (after one warm-up)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((PEAK_N, PEAK_N)).astype(dtype)
    B = rng.standard_normal((PEAK_N, PEAK_N)).astype(dtype)
    C = np.empty((PEAK_N, PEAK_N), dtype=dtype)
    with thread_limit(threads):
        np.matmul(A, B, out=C)
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            np.matmul(A, B, out=C)
            best = min(best, time.perf_counter() - t)
    return 2 * PEAK_N**3 / best / 1e9


def measure_peaks(thread_settings, dtypes, repeats, settle=SETTLE_SECONDS):
    """measure_peak for every (dtype, thread label) of the run, after a rest of `settle` seconds (SETTLE_SECONDS)."""
    time.sleep(settle)
    return {(dt, label): measure_peak(np.dtype(dt), n, repeats) for n, label in thread_settings for dt in dtypes}


def default_threads():
    try:
        from threadpoolctl import threadpool_info

        counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    return os.cpu_count()


def impl_label(impl, variant):
    if impl == "nn":
        return "nn" if variant is None else f"nn {variant}"
    if impl == "nn_other_blas":
        return {"openblas": "nn on OpenBLAS", "mkl": "nn on MKL"}[other_blas()]
    return {"reference": "nn.reference", "torch": "torch", "sklearn": "sklearn",
            "products": "products alone", "products_torch": "products (torch)"}[impl]


def versions():
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("nn", "torch", "sklearn", "threadpoolctl"):
        if installed(mod):
            try:
                out[mod] = __import__(mod).__version__
            except Exception:  # noqa: BLE001
                out[mod] = "?"
        else:
            out[mod] = "not installed"
    if installed("nn"):
        import nn

        out["nn_blas"] = nn.get_blas() if hasattr(nn, "get_blas") else "openblas"
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        out["blas"] = sorted({f"{i['internal_api']} {i['version']} {i.get('architecture')} ({os.path.basename(i['filepath'])})"
                              for i in blas})
        out["openblas_kernels"] = sorted({str(i.get("architecture")) for i in blas if i["internal_api"] == "openblas"})
    except ImportError:
        pass
    return out


# Variables that make every OpenBLAS in the process take a given core's kernels and cache size instead of the ones
# it detects. Some machines set them as a workaround for old OpenBLAS builds; a current one (NumPy 2.4's 0.3.31,
# nn's 0.3.34) then runs slower kernels than it would pick (AVX2 on an AVX-512 CPU), and every peer with it. The
# run records them and says how to measure without them.
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def openblas_env():
    return {k: os.environ[k] for k in OPENBLAS_ENV if k in os.environ}


def openblas_env_note(env):
    """One line on the OPENBLAS_* settings of this run ("" when none is set)."""
    if not env:
        return ""
    unset = " ".join(f"-u {k}" for k in OPENBLAS_ENV)
    return (f"{' '.join(f'{k}={v}' for k, v in env.items())} set: every OpenBLAS here (NumPy's, scikit-learn's "
            f"through it, nn's) runs that core's kernels, not the ones it picks for this CPU; for those, run "
            f"env {unset} python bench/compare.py")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ------------------------------------------------------------------------------------------ one row


def run_rows(specs, w, dtype, data, args):
    """One row per spec (impl, variant, threads, thread label) of one workload and dtype: each row's check run
    and calibration, then the timed calls in turns, one call of every row per round (A B C ..., A B C ...).
    Every ratio the table gives compares rows of one workload and dtype (a peer against nn, one thread count
    against another), so the machine's drift (15-40% within an hour on a shared machine) then falls on both
    sides alike. Run one row after another it did not: the "n threads not slower than 1" checks of the tiny
    networks, whose loop is the same one-thread loop on either setting, read 0.92-1.15 from run to run, and
    two rows running the very same code (wide "nn auto" and "nn primal") differed by 9%. Each sized or timed
    call starts after a rest of args.settle seconds (see SETTLE_SECONDS). Never raises: failures become the
    row's status."""
    X, Y, params0 = data[np.dtype(dtype).name]
    X64, Y64, _ = data["float64"]
    rows, timed = [], []
    for impl, variant, threads, label in specs:
        if impl.startswith("products") and not products_apply(w):
            continue  # a row of NumPy's call overhead would say nothing (peers.PRODUCTS_MIN_FLOPS)
        row = {"workload": w.name, "impl": impl_label(impl, variant), "dtype": np.dtype(dtype).name,
               "threads": label, "status": "ok"}
        rows.append(row)
        try:
            runner = make_runner(impl, w, X, Y, params0, dtype, variant)
        except PeerUnavailable as e:
            row["status"] = str(e)
            continue
        try:
            with thread_limit(threads):
                check_iters = w.check_iterations if not args.quick else max(2, w.check_iterations // 4)
                runner.reset()
                runner.train(check_iters)
                row["check_iterations"] = check_iters
                params = runner.params()
                if params is not None:  # the products row trains nothing
                    row["cost"] = cost64(X64, Y64, params, w.activations)
                if impl == "nn":
                    row["check_path"] = runner.path_used
                # the call that sizes the timed ones is a second, warm one: the first also pays one-off costs
                # (thread start-up, first-touch page faults), and a slow estimate here gave fewer iterations
                # per timed call, so more of the per-call setup in each iteration (cat's Gram rows: 1 against
                # 2 threads differed by 18% on that alone)
                runner.reset()
                time.sleep(args.settle)
                t = time.perf_counter()
                runner.train(check_iters)
                per_iter = (time.perf_counter() - t) / check_iters
            row["iterations"] = int(min(args.max_iterations, max(args.min_iterations,
                                                                 math.ceil(args.target / per_iter))))
            row["times"] = []
            timed.append((row, runner, threads, impl, variant))
        except Exception as e:  # noqa: BLE001  (a broken peer must not stop the benchmark)
            row["status"] = f"error: {type(e).__name__}: {e}"[:200]
    # One implementation's rows (they differ in thread setting only) make calls of the same length, the longest
    # any of them was sized for: per-call work (the Gram matrix, input checks) then weighs the same per
    # iteration in each, and one slow sizing call cannot shorten a row's calls. Sized apart, cat's Gram rows
    # got 1547 iterations a call at 2 threads against 5663 at 1 after a slow sizing call, and the Gram
    # matrix added 5 us to each 2-thread iteration (57 against 50 us).
    longest = {}
    for row, _, _, impl, variant in timed:
        longest[impl, variant] = max(longest.get((impl, variant), 0), row["iterations"])
    for row, _, _, impl, variant in timed:
        row["iterations"] = longest[impl, variant]
    for _ in range(args.repeats):
        for row, runner, threads, _, _ in timed:
            if row["status"] != "ok":
                continue
            try:
                with thread_limit(threads):
                    runner.reset()
                    gc.collect()
                    time.sleep(args.settle)
                    t = time.perf_counter()
                    runner.train(row["iterations"])
                    row["times"].append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001
                row["status"] = f"error: {type(e).__name__}: {e}"[:200]
    for row, runner, _, impl, variant in timed:
        if row["status"] != "ok":
            continue
        call = statistics.median(row["times"])
        row["seconds_per_iteration"] = call / row["iterations"]
        row["gflops"] = call_flops(w.layer_dims, w.m, row["iterations"]) / call / 1e9
        if impl == "nn":
            row["path"] = runner.path_used
            if runner.path_used not in (None, variant):
                row["impl"] += f"->{runner.path_used}"      # what "auto" chose for the timed calls
    return rows


def memory_probe(impl, variant, w, dtype):
    cmd = [sys.executable, os.path.join(HERE, "memprobe.py"), "--workload", w.name, "--impl", impl,
           "--dtype", np.dtype(dtype).name]
    if variant is not None:
        cmd += ["--first-layer", variant]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1][:120] if out.stderr.strip() else "failed"}
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"[:120]}


# ------------------------------------------------------------------------------------------ the table


def add_derived(rows, peaks):
    """Ratios to nn, % of peak, agreement with the oracle."""
    for r in rows:
        if r["status"] != "ok":
            continue
        same = [o for o in rows if o["workload"] == r["workload"] and o["dtype"] == r["dtype"]
                and o["threads"] == r["threads"] and o["status"] == "ok"]
        for key, names in (("ratio_vs_auto", ("nn auto", "nn")), ("ratio_vs_primal", ("nn primal", "nn"))):
            base = [o for o in same if o["impl"].split("->")[0] in names]
            if base:
                r[key] = r["seconds_per_iteration"] / base[0]["seconds_per_iteration"]
        peak = r.get("peak_gflops") or peaks.get((r["dtype"], r["threads"]))
        if peak:
            r["percent_of_peak"] = 100 * r["gflops"] / peak
        # oracle: nn.reference float64, else nn float64 (primal, else the only/auto row), same threads
        cands = [o for o in rows if o["workload"] == r["workload"] and o["threads"] == r["threads"]
                 and o["dtype"] == "float64" and o["status"] == "ok" and "cost" in o]
        oracle = None
        for name in ("nn.reference", "nn primal", "nn", "nn auto"):
            hit = [o for o in cands if o["impl"].split("->")[0] == name]
            if hit:
                oracle = hit[0]
                break
        if oracle is None and cands:
            oracle = cands[0]
        if oracle is not None and "cost" in r:
            r["oracle"] = f"{oracle['impl']} float64"
            r["cost_rel_diff"] = abs(r["cost"] - oracle["cost"]) / abs(oracle["cost"])
            r["agrees"] = r["cost_rel_diff"] <= RTOL[r["dtype"]]


def fmt_time(s):
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} us"


def fmt_cost(x):
    return "" if x is None else f"{x:.6g}"


def fmt_ratio(x):
    if x is None:
        return ""
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def progress(wrows):
    """The mean relative change of the cost per check iteration: what one iteration more or less would do."""
    done = [r for r in wrows if r["status"] == "ok" and "cost" in r and r["dtype"] == "float64"]
    if not done:
        return ""
    r = done[0]
    per = abs(r["cost0"] - r["cost"]) / r["check_iterations"] / r["cost"]
    return f" (mean change {per:.1e} relative per iteration)"


def render(rows, peaks, meta, workloads):
    lines = []
    lines.append(f"nn benchmark  {meta['date']}  {meta['cpu']} ({meta['cpus']} cores)")
    lines.append(f"command: {meta['command']}  ({meta['seconds']:.0f} s; load average at start "
                 f"{meta['loadavg_start'][0]:.2f}, at end {meta['loadavg_end'][0]:.2f}: other processes on the "
                 "machine distort the timings)")
    blas = meta.get("versions", {}).get("nn_blas", "openblas")
    other = "OpenBLAS" if blas == "mkl" else "MKL"
    lines.append(f"nn's one-thread products (team slices, tiny loops) in: {blas}; the row 'nn on {other}' is the "
                 f"same nn with them in {other}")
    if meta.get("versions", {}).get("blas"):
        lines.append("BLAS libraries (threadpoolctl: API, version, kernels, file): "
                     + "; ".join(meta["versions"]["blas"]))
    env_note = openblas_env_note(meta.get("openblas_env"))
    if env_note:
        lines.append("WARNING: " + env_note)
    lines.append("matrix-multiply peak at the start (NumPy A @ B, 2048 x 2048, best of 5): " + ", ".join(
        f"{dt} {th} thr {peaks[(dt, th)]:.1f} GFLOP/s" for dt, th in sorted(peaks)))
    lines.append("s/iter: median over repeats of (one training call / its iterations); a call is its iterations "
                 "and the cost of the parameters they reach (one forward pass more), in every row, with per-call "
                 "setup included. x auto, x primal: this row's s/iter / nn's (first_layer=auto, resp. primal) "
                 "s/iter for the same workload, dtype and threads (> 1: nn is faster). GFLOP/s: useful flops of "
                 "a call (forward + dW + dA_prev except layer 1 per iteration, and the final forward) / its "
                 "time, the same count for every row; products alone: the workload's matrix products and "
                 "nothing else, one NumPy matmul each, what an implementation making them so on this BLAS "
                 "spends at least; products (torch): the same in PyTorch's matmul (MKL in its x86 wheels); %peak: of the matmul peak for that dtype and thread count measured next to the workload (the higher of the measurements just "
                 "before and just after its rows, given on its line). cost: final cost after the check iterations; rel.diff: vs the float64 "
                 f"oracle (tolerance {RTOL['float64']:g} float64, {RTOL['float32']:g} float32, ! = outside). "
                 "+RSS: peak resident memory one training call adds (subprocess), x X: as a multiple of X's size.")
    header = (f"{'workload':9} {'implementation':18} {'dtype':7} {'thr':>3} {'iters':>6} {'s/iter':>10} "
              f"{'x auto':>7} {'x primal':>8} {'GFLOP/s':>8} {'%peak':>6} {'cost':>12} {'rel.diff':>9} "
              f"{'+RSS MB (x X)':>15}")
    for w in workloads:
        wrows = [r for r in rows if r["workload"] == w.name]
        if not wrows:
            continue
        lines.append("")
        lines.append(f"{w.name}: X ({w.n_x}, {w.m}) = {x_bytes(w, np.float64) / 1e6:.1f} MB float64 / "
                     f"{x_bytes(w, np.float32) / 1e6:.1f} MB float32; layers {list(w.layer_dims)}; hidden "
                     f"{w.hidden}; lr {w.learning_rate}; {useful_flops(w.layer_dims, w.m) / 1e9:.3f} GFLOP/iter; "
                     f"cost {wrows[0].get('cost0', float('nan')):.6g} at start; check {wrows[0].get('check_iterations', '?')} iterations"
                     + progress(wrows))
        near = sorted({(r["dtype"], r["threads"], r["peak_gflops"]) for r in wrows if r.get("peak_gflops")})
        if near:
            lines.append("matmul peak next to it: " + ", ".join(f"{dt} {th} thr {g:.1f}" for dt, th, g in near)
                         + " GFLOP/s")
        lines.append(header)
        lines.append("-" * len(header))
        for r in wrows:
            head = f"{r['workload']:9} {r['impl']:18} {r['dtype']:7} {r['threads']:>3}"
            if r["status"] != "ok":
                lines.append(f"{head} {r['status']}")
                continue
            mem = ""
            if "mem_added" in r:
                mem = f"{r['mem_added'] / 1e6:.1f} ({r['mem_added'] / r['x_bytes']:.2f})"
            elif "mem_error" in r:
                mem = "error"
            diff = ""
            if "cost_rel_diff" in r:
                diff = f"{r['cost_rel_diff']:.1e}" + ("" if r["agrees"] else "!")
            lines.append(
                f"{head} {r['iterations']:>6} {fmt_time(r['seconds_per_iteration']):>10} "
                f"{fmt_ratio(r.get('ratio_vs_auto')):>7} {fmt_ratio(r.get('ratio_vs_primal')):>8} "
                f"{r['gflops']:>8.2f} {r.get('percent_of_peak', float('nan')):>5.1f}% {fmt_cost(r.get('cost')):>12} "
                f"{diff:>9} {mem:>15}")
    bad = [r for r in rows if r["status"] == "ok" and r.get("agrees") is False]
    if bad:
        lines.append("")
        for r in bad:
            lines.append(f"WARNING: {r['workload']} {r['impl']} {r['dtype']} {r['threads']} thr: final cost "
                         f"{r['cost']:.12g} differs from {r['oracle']} by {r['cost_rel_diff']:.2e} relative "
                         f"(tolerance {RTOL[r['dtype']]:g})")
    errors = [r for r in rows if r["status"].startswith("error")]
    for r in errors:
        lines.append(f"WARNING: {r['workload']} {r['impl']} {r['dtype']} {r['threads']} thr: {r['status']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: short timings, one repeat, fewer checks")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--peers", nargs="+", default=list(IMPLS), choices=list(IMPLS),
                    help="implementations to run (nn is the baseline of the ratios)")
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--threads", nargs="+", default=["default", "1"],
                    help="thread settings: 'default' and/or integers")
    ap.add_argument("--target", type=float, default=None, help="seconds per timed call (default 1, quick 0.15)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed calls per row (default 5, quick 1): with 3, the medians of two rows running the "
                         "same one-thread loop (planar float64 at 2 and at 1 thread) still differed by 5%%")
    ap.add_argument("--min-iterations", type=int, default=None,
                    help="fewest iterations of one timed call (default 10, quick 3), so that per-call setup "
                         "weighs little per iteration")
    ap.add_argument("--max-iterations", type=int, default=2000000,
                    help="cap on the iterations of one timed call (high enough that planar's ~1 us iterations "
                         "still fill --target seconds: capped at 200000, its calls lasted 0.2 s and its 1 against "
                         "2 thread rows differed by up to 5%% on noise)")
    ap.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                    help="seconds of rest before every sized or timed call and each measurement of the peaks, so "
                         "that the previous row's idle threads (OpenBLAS's spin for 0.1 s) have stopped "
                         "(default %(default)s)")
    ap.add_argument("--memory", choices=["nn", "all", "none"], default="nn",
                    help="which rows get the +RSS column (one subprocess each, default threads)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "compare.json"))
    args = ap.parse_args(argv)
    if args.target is None:
        args.target = 0.15 if args.quick else 1.0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.min_iterations is None:
        args.min_iterations = 3 if args.quick else 10

    started = time.perf_counter()
    dflt = default_threads()
    thread_settings = []
    for t in args.threads:
        n = None if t == "default" else int(t)
        label = dflt if n is None else n
        if label not in [lbl for _, lbl in thread_settings]:
            thread_settings.append((n, label))

    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
            "cpus": os.cpu_count(), "command": " ".join(["python"] + [os.path.relpath(sys.argv[0])] + sys.argv[1:]),
            "versions": versions(), "nn_first_layer_option": installed("nn") and nn_first_layer_supported(),
            "rtol": RTOL, "options": vars(args), "loadavg_start": os.getloadavg(), "openblas_env": openblas_env()}
    if meta["openblas_env"]:
        log("WARNING: " + openblas_env_note(meta["openblas_env"]))
    for impl in args.peers:
        if impl in ("torch", "sklearn") and not installed(impl):
            log(f"{impl}: not installed (pip install '.[bench]'); its rows say so")

    # The machine's speed drifts (by 15-40% within an hour on a shared machine), so each workload's %peak is
    # judged against the peak measured next to it: the higher of the measurements just before and just
    # after its rows (the stricter of the two). The peak at the start is reported too.
    peak_repeats = 2 if args.quick else 5
    log("measuring the matrix-multiply peak ...")
    peaks = measure_peaks(thread_settings, args.dtypes, peak_repeats, args.settle)
    for (dt, label), g in sorted(peaks.items()):
        log(f"  {dt} {label} threads: {g:.1f} GFLOP/s")

    workloads = [WORKLOADS[name] for name in args.workloads]
    rows = []
    variants = nn_variants() if "nn" in args.peers else []
    specs = [(impl, variant, n, label) for n, label in thread_settings for impl in args.peers
             for variant in (variants if impl == "nn" else [None])]
    for w in workloads:
        data = {}
        for dt in set(args.dtypes) | {"float64"}:
            X, Y = make_data(w, np.dtype(dt))
            data[dt] = (X, Y, initial_params(w, np.dtype(dt)))
        cost0 = cost64(data["float64"][0], data["float64"][1], data["float64"][2], w.activations)
        before = measure_peaks(thread_settings, args.dtypes, peak_repeats, args.settle)
        first = len(rows)
        for dt in args.dtypes:
            for row in run_rows(specs, w, np.dtype(dt), data, args):
                row["cost0"] = cost0
                row["x_bytes"] = x_bytes(w, np.dtype(dt))
                rows.append(row)
                log(f"  {w.name:9} {row['impl']:18} {dt:7} {row['threads']:>2} thr: "
                    + (fmt_time(row["seconds_per_iteration"]) + "/iter" if row["status"] == "ok" else row["status"]))
        del data
        # the table lists a workload's rows by thread setting, then dtype, then implementation
        order = [label for _, label in thread_settings]
        rows[first:] = sorted(rows[first:], key=lambda r: order.index(r["threads"]))
        after = measure_peaks(thread_settings, args.dtypes, peak_repeats, args.settle)
        for r in rows[first:]:
            key = (r["dtype"], r["threads"])
            r["peak_gflops"] = max(before[key], after[key])
        log(f"  matmul peak next to {w.name}: " + ", ".join(
            f"{dt} {th} thr {before[(dt, th)]:.1f} / {after[(dt, th)]:.1f}" for dt, th in sorted(before)))
        if args.memory != "none":
            for r in rows:
                if r["impl"] == impl_label("nn_other_blas", None):
                    continue  # nn's own row's buffers: the BLAS only changes which library multiplies
                is_nn = r["impl"] == "nn" or r["impl"].startswith("nn ")
                if (r["workload"] != w.name or r["impl"].startswith("products") or r["status"] != "ok"
                        or r["threads"] != thread_settings[0][1] or not (is_nn or args.memory == "all")):
                    continue
                impl = {"nn.reference": "reference"}.get(r["impl"], r["impl"].split()[0])
                variant = r["impl"].split()[1].split("->")[0] if r["impl"].startswith("nn ") else None
                res = memory_probe(impl, variant, w, r["dtype"])
                if "added" in res:
                    r["mem_added"] = res["added"]
                    r["mem_method"] = res["method"]
                else:
                    r["mem_error"] = res.get("error")
                log(f"  memory {w.name} {r['impl']} {r['dtype']}: {res}")

    add_derived(rows, peaks)
    meta["seconds"] = time.perf_counter() - started
    meta["loadavg_end"] = os.getloadavg()
    text = render(rows, peaks, meta, workloads)
    print(text)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "peaks_gflops": [{"dtype": d, "threads": t, "gflops": g}
                                                      for (d, t), g in sorted(peaks.items())],
                       "rows": rows, "table": text}, f, indent=1, default=str)
        log(f"wrote {args.json} ({meta['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
