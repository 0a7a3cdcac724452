"""Issue 4's targets, judged on one run of bench/compare.py: each target, what the run measured, and whether
it is met.

    python bench/targets.py                          # reads bench/results/compare.json
    python bench/targets.py path/to/compare.json

Ratios are a peer's seconds per iteration over nn's, from the same run, as in compare.py's table. A target
whose rows are missing from the run (a peer not installed, a workload not run) is "not measured".

A missed speed target gets a line more where the run's products on nn's BLAS leave it no room: the workload's
matrix products alone took longer than the target allows nn, or reached less of the matmul peak than it asks.
nn's BLAS is OpenBLAS, whose products the "products alone" row makes (NumPy's matmul), or MKL when the run's
nn used it (the nn[mkl] extra), whose products the "products (torch)" row makes (PyTorch's matmul, MKL in its
x86 wheels). Only where nn ran the primal path (the products rows make the primal products) and took at least
as long as that row (else the row is no floor for nn's way of calling the BLAS). The line also gives the other
BLAS's row when the run has it, which says whether that BLAS would leave room.

A missed speed target on a primal path bound by its multiply-adds (wide, deep, cat's primal path) also says
what share of the matmul peak measured next to it nn would need to meet it: over 100% is beyond what the
run's BLAS does on a 2048 x 2048 product.
"""
import argparse
import json
import sys
from pathlib import Path

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "compare.json"

# "Multi-threaded never slower than single-threaded" is judged with this allowance: where both thread counts
# run the same one-thread loop (tiny networks), they differ by run-to-run noise alone.
THREAD_NOISE = 1.05


def kind(impl):
    """compare.py's implementation names, as the kinds the targets speak of."""
    if impl.startswith("nn auto"):
        return "auto"
    return {"nn primal": "primal", "nn.reference": "reference", "torch": "torch", "sklearn": "sklearn",
            "products alone": "products", "products (torch)": "products_torch"}.get(impl)


# The products row that makes each BLAS's products, and how a note names it.
PRODUCTS_ON = {"openblas": ("products", "OpenBLAS", "NumPy's matmul (OpenBLAS)"),
               "mkl": ("products_torch", "MKL", "PyTorch's matmul (MKL)")}


class Run:
    def __init__(self, data):
        # the BLAS of nn's one-thread products in this run (runs from before the mkl extra: OpenBLAS)
        self.blas = data.get("meta", {}).get("versions", {}).get("nn_blas", "openblas")
        self.rows = {}
        for r in data["rows"]:
            if r.get("status") == "ok" and kind(r["impl"]):
                self.rows[(r["workload"], kind(r["impl"]), r["dtype"], r["threads"])] = r
        threads = [key[3] for key in self.rows]
        self.default_threads = max(threads) if threads else 1

    def row(self, workload, impl, dtype, threads=None):
        return self.rows.get((workload, impl, dtype, self.default_threads if threads is None else threads))

    def time(self, *key, **kw):
        r = self.row(*key, **kw)
        return None if r is None else r["seconds_per_iteration"]


def fmt_seconds(s):
    return f"{s * 1e3:.4g} ms" if s >= 1e-3 else f"{s * 1e6:.4g} us"


def ratio_target(run, name, workload, dtype, peer, path, at_least):
    """peer's time / nn's time (nn on `path`: "auto" or "primal") >= at_least."""
    peer_t, nn_t = run.time(workload, peer, dtype), run.time(workload, path, dtype)
    if peer_t is None or nn_t is None:
        return name, "-", None
    value = peer_t / nn_t
    met = value >= at_least
    products, allowed = products_floor(run, workload, path, dtype), peer_t / at_least
    notes = []
    if not met and products is not None and products["seconds_per_iteration"] > allowed:
        notes.append(
            f"no room on {PRODUCTS_ON[run.blas][1]}: the products alone took "
            f"{fmt_seconds(products['seconds_per_iteration'])} per iteration, {at_least:g}x allows nn "
            f"{fmt_seconds(allowed)}"
            + on_the_other_blas(run, workload, dtype, "seconds_per_iteration", lambda s: f"they took {fmt_seconds(s)}"))
    percent = peak_percent(run, workload, path, dtype)
    if not met and percent is not None:
        notes.append(f"{at_least:g}x would need nn at {percent * nn_t / allowed:.0f}% of the matmul peak measured "
                     f"next to it (it ran at {percent:.0f}%)")
    return (name, f"{value:.3g}x", met, *(["; ".join(notes)] if notes else []))


# Iterations of fewer useful flops than this are bound by something other than the multiply-adds (planar's
# 1.6e4 by per-iteration costs, logistic's 1e7 by reading X), so the matmul peak says nothing of their room.
PEAK_BOUND_FLOPS = 1e8


def peak_percent(run, workload, path, dtype):
    """The % of the matmul peak nn's row on `path` reached; None where nn ran the Gram path (whose "useful"
    flops are not the work it does), the iteration is not bound by the multiply-adds (PEAK_BOUND_FLOPS) or the
    row has no %peak."""
    r = run.row(workload, path, dtype)
    if r is None or r.get("path", "primal") != "primal" or r.get("percent_of_peak") is None:
        return None
    if r.get("gflops") is None or r["gflops"] * 1e9 * r["seconds_per_iteration"] < PEAK_BOUND_FLOPS:
        return None
    return r["percent_of_peak"]


def on_the_other_blas(run, workload, dtype, field, say):
    """The other BLAS's products row's `field`, as the end of a no-room note ("" when the run has no such
    value)."""
    other_blas = "openblas" if run.blas == "mkl" else "mkl"
    kind_, _, where = PRODUCTS_ON[other_blas]
    other = run.row(workload, kind_, dtype)
    if other is None or other.get(field) is None:
        return ""
    return f"; in {where} {say(other[field])}"


def products_floor(run, workload, path, dtype):
    """The row of the products alone on nn's BLAS, where it is a floor for nn's row on `path`: nn ran the
    primal path and took at least as long."""
    nn_row, products = run.row(workload, path, dtype), run.row(workload, PRODUCTS_ON[run.blas][0], dtype)
    if nn_row is None or products is None or nn_row.get("path", "primal") != "primal":
        return None
    return products if nn_row["seconds_per_iteration"] >= products["seconds_per_iteration"] else None


def peak_target(run, name, workload, dtype, at_least):
    r = run.row(workload, "auto", dtype)
    if r is None or r.get("percent_of_peak") is None:
        return name, "-", None
    met = r["percent_of_peak"] >= at_least
    products = products_floor(run, workload, "auto", dtype)
    if not met and products is not None and products.get("percent_of_peak", at_least) < at_least:
        return name, f"{r['percent_of_peak']:.1f}%", met, (
            f"no room on {PRODUCTS_ON[run.blas][1]}: the products alone reached {products['percent_of_peak']:.1f}%"
            + on_the_other_blas(run, workload, dtype, "percent_of_peak", lambda p: f"{p:.1f}%"))
    return name, f"{r['percent_of_peak']:.1f}%", met


def threads_target(run, workload, dtype):
    name = f"{workload} {dtype}: nn on {run.default_threads} threads not slower than on 1"
    multi, single = run.time(workload, "auto", dtype), run.time(workload, "auto", dtype, threads=1)
    if multi is None or single is None or run.default_threads == 1:
        return name, "-", None
    return name, f"{multi / single:.3g} of the 1-thread time", multi <= THREAD_NOISE * single


def memory_target(run, dtype):
    name = f"wide {dtype}: resident memory fit adds < size of X"
    r = run.row("wide", "auto", dtype)
    if r is None or r.get("mem_added") is None:
        return name, "-", None
    added, x = r["mem_added"], r["x_bytes"]
    return name, f"{added / 1e6:.1f} MB for {x / 1e6:.1f} MB ({added / x:.2f}x)", added < x


def targets(run):
    out = []
    for w in ("logistic", "cat"):
        out.append(ratio_target(run, f"{w} float64 auto >= 30x nn.reference", w, "float64", "reference", "auto", 30))
        out.append(ratio_target(run, f"{w} float64 primal >= 2x nn.reference", w, "float64", "reference",
                                "primal", 2))
    out.append(ratio_target(run, "cat float64 primal >= 4x PyTorch", "cat", "float64", "torch", "primal", 4))
    out.append(ratio_target(run, "cat float32 primal >= 1.5x PyTorch", "cat", "float32", "torch", "primal", 1.5))
    for dtype in ("float64", "float32"):
        for peer, label in (("reference", "nn.reference"), ("torch", "PyTorch")):
            out.append(ratio_target(run, f"planar {dtype} >= 20x {label}", "planar", dtype, peer, "auto", 20))
    for w, at_least in (("wide", 80), ("deep", 70)):
        for dtype in ("float64", "float32"):
            out.append(peak_target(run, f"{w} {dtype} >= {at_least}% of the matmul peak", w, dtype, at_least))
    for w in ("logistic", "cat", "planar", "wide", "deep"):
        for dtype in ("float64", "float32"):
            out.append(ratio_target(run, f"{w} {dtype} >= 2x scikit-learn", w, dtype, "sklearn", "auto", 2))
    for w in ("logistic", "cat", "planar", "wide", "deep"):
        for dtype in ("float64", "float32"):
            out.append(threads_target(run, w, dtype))
    for dtype in ("float64", "float32"):
        out.append(memory_target(run, dtype))
    return out


def report(data):
    run = Run(data)
    rows = targets(run)
    meta = data.get("meta", {})
    lines = [f"issue 4 targets, run of {meta.get('date', '?')} ({meta.get('command', '?')}); "
             f"default threads: {run.default_threads}; nn's one-thread products on {PRODUCTS_ON[run.blas][1]}"]
    kernels = meta.get("versions", {}).get("openblas_kernels")
    if kernels:
        lines.append(f"OpenBLAS kernels: {', '.join(kernels)}"
                     + "".join(f"; {k}={v} set" for k, v in meta.get("openblas_env", {}).items()))
    width = max(len(name) for name, *_ in rows)
    value_width = max(len(value) for _, value, *_ in rows)
    for name, value, ok, *note in rows:
        verdict = "not measured" if ok is None else "met" if ok else "MISSED"
        lines.append(f"  {name:<{width}}  {value:>{value_width}}  {verdict}")
        if note:
            lines.append(f"    {note[0]}")
    met = sum(ok is True for _, _, ok, *_ in rows)
    missed = sum(ok is False for _, _, ok, *_ in rows)
    no_room = sum(ok is False and bool(note) and "no room" in note[0] for _, _, ok, *note in rows)
    lines.append(f"{met} met, {missed} missed ({no_room} with no room left by {PRODUCTS_ON[run.blas][1]}'s "
                 "products alone), "
                 f"{len(rows) - met - missed} not measured")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", default=str(DEFAULT_JSON), help="compare.py's JSON output")
    args = parser.parse_args(argv)
    path = Path(args.json)
    if not path.exists():
        sys.exit(f"{path}: no such file; run python bench/compare.py first")
    print(report(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
