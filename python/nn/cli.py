"""The `nn` command: train, predict and info.

User errors (missing or malformed files, bad labels, an output that exists) end in one line on stderr,
"nn: error: ...", and exit status 1 (2 for bad command-line usage); never a traceback.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

import numpy as np

from . import datasets, io
from .preprocessing import Pipeline, Scale, Standardizer
from ._validation import ACTIVATIONS, INITS

# The built-in demonstration: the course's planar "flower" data, a 2-layer tanh network and logistic regression.
PLANAR = dict(layers=[4], hidden="tanh", init="xavier", lr=1.2, iterations=10000)
# The course's deep network defaults, for the user's own data.
DATA = dict(layers=[20, 7, 5], hidden="relu", init="xavier", lr=0.0075, iterations=2500)


class UserError(Exception):
    """A problem with the command's input that the user can fix; reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"nn: error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (UserError, ValueError, OSError, ImportError) as e:
        print(f"nn: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nn: interrupted", file=sys.stderr)
        return 130


def _parser():
    p = _Parser(prog="nn", description="Train and use fully connected networks (course notation, C++ core).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (no arguments: the planar flower demonstration)",
                       description="Train a network. With no --data: the course's planar flower data (80/20 split), "
                                   "a [2, 4, 1] tanh network and logistic regression side by side.")
    t.add_argument("--data", metavar="TRAIN", help="training data: .h5, .npz or .csv")
    t.add_argument("--test", metavar="TEST", help="test data (default: hold out --test-fraction of --data)")
    t.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                   help="fraction held out for testing when there is no --test (default 0.2; 0 = none)")
    t.add_argument("--rows", action="store_true", help=".npz data has one example per row (default: per column)")
    t.add_argument("--layers", type=_layers, metavar="N,N,...",
                   help="hidden layer sizes (planar default 4; data default 20,7,5; '' = logistic regression)")
    t.add_argument("--hidden", choices=ACTIVATIONS, help="hidden activation (planar default tanh, data default relu)")
    t.add_argument("--init", choices=INITS, help="weight initialisation (default xavier)")
    t.add_argument("--seed", type=int, default=1, help="seed for the initialisation and the split (default 1)")
    t.add_argument("--lr", type=_positive_float, metavar="RATE", help="learning rate (planar 1.2, data 0.0075)")
    t.add_argument("--iterations", type=_positive_int, metavar="N", help="iterations (planar 10000, data 2500)")
    t.add_argument("--record-every", type=_positive_int, default=100, metavar="K",
                   help="record the cost every K iterations (default 100)")
    t.add_argument("--float32", action="store_true", help="train in float32 (default float64)")
    t.add_argument("--standardize", "--standardise", action="store_true",
                   help="standardise features with the training set's mean and std (stored in the model)")
    t.add_argument("--out", metavar="MODEL", help="model file (default ./nn-planar.npz or ./nn-<data>.npz, "
                                                  "numbered -1, -2, ... rather than overwrite)")
    t.add_argument("--plot", metavar="PNG", help="write the cost curve (and the decision boundary for 2 features)")
    t.add_argument("--force", action="store_true", help="overwrite existing --out / --plot files")
    t.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(run=train)

    pr = sub.add_parser("predict", help="predict with a saved model")
    pr.add_argument("model", help="model file written by nn train")
    pr.add_argument("--data", required=True, metavar="FILE", help="data: .h5, .npz or .csv (labels optional)")
    pr.add_argument("--rows", action="store_true", help=".npz data has one example per row")
    pr.add_argument("--out", metavar="CSV", help="write predictions (prediction,probability per example)")
    pr.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    pr.add_argument("--json", action="store_true", help="print the results as JSON")
    pr.set_defaults(run=predict)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model", help="model file written by nn train")
    i.add_argument("--json", action="store_true", help="print as JSON")
    i.set_defaults(run=info)
    return p


# ---------------------------------------------------------------------------- train

def train(args):
    from .network import Network
    planar = args.data is None
    if planar and args.test:
        raise UserError("--test needs --data")
    defaults = PLANAR if planar else DATA
    layers = defaults["layers"] if args.layers is None else args.layers
    hidden = args.hidden or defaults["hidden"]
    init = args.init or defaults["init"]
    lr = args.lr or defaults["lr"]
    iterations = args.iterations or defaults["iterations"]
    dtype = np.float32 if args.float32 else np.float64
    if not 0 <= args.test_fraction < 1:
        raise UserError(f"--test-fraction must be in [0, 1); got {args.test_fraction}")

    # Check every output before the (possibly long) training, so a clash costs nothing.
    for path in (args.out, args.plot):
        _check_writable(path, args.force)
    out = args.out or _fresh_name("nn-planar" if planar else "nn-" + _stem(args.data))
    if args.plot:
        from .plot import require_matplotlib
        require_matplotlib()               # fail now, not after the training

    X_train, Y_train, X_test, Y_test = _training_data(args, planar)
    steps = []
    if X_train.dtype == np.uint8:
        steps.append(Scale(255))           # 8-bit pixels, as the course: X / 255
    if args.standardize:
        steps.append(Standardizer())
    pipeline = Pipeline(steps)
    X_train = pipeline.fit_transform(X_train).astype(dtype)
    X_test = None if X_test is None else pipeline.transform(X_test).astype(dtype)
    Y_train = Y_train.astype(dtype)

    n_x = X_train.shape[0]
    models = [("network", Network([n_x, *layers, 1], hidden=hidden, init=init, seed=args.seed, dtype=dtype))]
    if planar:
        models.append(("logistic regression", Network([n_x, 1], init="zeros", dtype=dtype)))
    results, histories = [], []
    for name, net in models:
        if not args.quiet:
            print(f"Training {name} {list(net.layer_dims)} ({_describe_activations(net)}), "
                  f"learning rate {lr:g}, {iterations} iterations", file=sys.stderr)
        start = time.perf_counter()
        hist = net.fit(X_train, Y_train, learning_rate=lr, iterations=iterations,
                       record_every=args.record_every, verbose=not args.quiet)
        seconds = time.perf_counter() - start
        histories.append((name, hist))
        results.append({
            "model": name,
            "layer_dims": [int(n) for n in net.layer_dims],
            "activations": list(net.activations),
            "train_accuracy": _accuracy(net, X_train, Y_train),
            "test_accuracy": None if X_test is None else _accuracy(net, X_test, Y_test),
            "final_cost": float(hist.costs[-1]),
            "seconds": seconds,
        })

    net = models[0][1]
    net.preprocessing = pipeline if steps else None
    out = io.save(net, out, overwrite=args.force)
    if args.plot:
        _plot(args.plot, histories, net, X_train, Y_train, X_test, Y_test, args.force)

    if args.json:
        print(json.dumps({"data": args.data or "planar", "m_train": int(X_train.shape[1]),
                          "m_test": 0 if X_test is None else int(X_test.shape[1]),
                          "models": results, "model_path": os.path.abspath(out), "plot": args.plot}))
        return 0
    source = "planar flower data" if planar else args.data
    m_test = "no" if X_test is None else X_test.shape[1]
    print(f"\n{source}: {X_train.shape[1]} training examples, {m_test} test examples, {n_x} features\n")
    print(_table(results))
    print(f"\nSaved the network to {out}")
    if args.plot:
        print(f"Saved the plot to {args.plot}")
    return 0


def _training_data(args, planar):
    if planar:
        X, Y = datasets.planar()
        classes = None
    else:
        X, Y, classes = datasets.load(args.data, rows=args.rows, labels=True)
    if args.test:
        X_test, Y_test, _ = datasets.load(args.test, rows=args.rows, labels=True)
        if X_test.shape[0] != X.shape[0]:
            raise UserError(f"{args.test} has {X_test.shape[0]} features per example, "
                            f"{args.data} has {X.shape[0]}")
        return X, Y, X_test, Y_test
    if args.test_fraction == 0:
        return X, Y, None, None
    X_train, X_test, Y_train, Y_test = datasets.train_test_split(X, Y, args.test_fraction, seed=args.seed)
    return X_train, Y_train, X_test, Y_test


def _plot(path, histories, net, X_train, Y_train, X_test, Y_test, force):
    from . import plot
    two_features = X_train.shape[0] == 2
    fig, axes = plot.figure(2 if two_features else 1)
    for name, hist in histories:
        plot.costs(hist, ax=axes[0], label=name)
    if two_features:
        X = X_train if X_test is None else np.hstack([X_train, X_test])
        Y = Y_train if Y_test is None else np.hstack([Y_train, Y_test])
        plot.decision_boundary(net, X, Y, ax=axes[1])
    _write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), force)


# ---------------------------------------------------------------------------- predict

def predict(args):
    _check_writable(args.out, args.force)
    net = io.load(args.model)
    n_x = net.layer_dims[0]
    X, Y, classes = datasets.load(args.data, rows=args.rows, labels=None, n_x=n_x)
    if X.shape[0] != n_x:
        raise UserError(f"{args.data} has {X.shape[0]} features per example; the model expects {n_x}")
    X = (net.preprocessing.transform(X) if net.preprocessing is not None else X).astype(net.dtype)
    A = np.asarray(net.predict_proba(X), dtype=np.float64).reshape(-1)
    predictions = np.asarray(net.predict(X)).reshape(-1).astype(np.int64)
    accuracy = None if Y is None else float(np.mean(predictions == Y.reshape(-1)) * 100)
    if args.out:
        lines = ["prediction,probability"] + [f"{p},{a:.17g}" for p, a in zip(predictions, A)]
        _write_atomic(args.out, lambda f: f.write(("\n".join(lines) + "\n").encode()), args.force)
    m = predictions.size
    if args.json:
        print(json.dumps({"examples": m, "predicted_1": int(predictions.sum()), "accuracy": accuracy,
                          "out": args.out}))
        return 0
    print(f"{m} examples, {int(predictions.sum())} predicted 1"
          + ("" if classes is None or len(classes) != 2 else f" ({classes[1]})"))
    if accuracy is not None:
        print(f"accuracy: {accuracy:.2f}%")
    if args.out:
        print(f"Saved the predictions to {args.out}")
    return 0


# ---------------------------------------------------------------------------- info

def info(args):
    net = io.load(args.model)
    params = sum(W.size + b.size for W, b in net.params)
    hist = net.history_
    settings = net.train_settings_ or {}
    d = {
        "model": args.model,
        "layer_dims": [int(n) for n in net.layer_dims],
        "activations": list(net.activations),
        "parameters": int(params),
        "dtype": np.dtype(net.dtype).name,
        "preprocessing": None if net.preprocessing is None else net.preprocessing.describe(),
        "train_settings": settings,
        "final_cost": None if hist is None or len(hist.costs) == 0 else float(hist.costs[-1]),
        "final_iteration": None if hist is None or len(hist.costs) == 0 else int(hist.iterations[-1]),
    }
    if args.json:
        print(json.dumps(d))
        return 0
    trained = ", ".join(_describe_setting(k, v) for k, v in settings.items()) or "not trained"
    cost = "-" if d["final_cost"] is None else f"{d['final_cost']:.6g} (iteration {d['final_iteration']})"
    print(f"model:          {args.model}")
    print(f"architecture:   {d['layer_dims']}  ({_describe_activations(net)})")
    print(f"parameters:     {params}")
    print(f"dtype:          {d['dtype']}")
    print(f"preprocessing:  {d['preprocessing'] or 'none'}")
    print(f"training:       {trained}")
    print(f"final cost:     {cost}")
    return 0


# ---------------------------------------------------------------------------- helpers

def _accuracy(net, X, Y):
    return float(np.mean(np.asarray(net.predict(X)).reshape(-1) == np.asarray(Y).reshape(-1)) * 100)


def _table(results):
    rows = [("model", "layers", "train accuracy", "test accuracy", "time")]
    for r in results:
        test = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.1f}%"
        rows.append((r["model"], str(r["layer_dims"]), f"{r['train_accuracy']:.1f}%", test, _duration(r["seconds"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _duration(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _describe_setting(name, value):
    if name == "seconds":
        return _duration(value)
    if name == "iterations":
        return f"{value} iterations"
    if isinstance(value, str):
        return f"{name.replace('_', ' ')} {value}"
    return f"{name.replace('_', ' ')} {value:g}"


def _describe_activations(net):
    names = list(net.activations)
    if len(names) > 2 and len(set(names[:-1])) == 1:
        return f"{names[0]} x{len(names) - 1} -> {names[-1]}"
    return " -> ".join(names)


def _check_writable(path, force):
    if path is None:
        return
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory")
    if os.path.lexists(path) and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"directory {parent} does not exist")


def _fresh_name(base):
    path, k = base + ".npz", 0
    while os.path.lexists(path):
        k += 1
        path = f"{base}-{k}.npz"
    return path


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0] or "model"


def _write_atomic(path, write, force):
    """write(f) into a temporary file beside `path`, then rename it onto `path` (replacing only with force)."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~io._umask())
        if force:
            os.replace(tmp, path)
        else:
            io._rename_no_overwrite(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _layers(text):
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 20,7,5; got {text!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive; got {text!r}")
    return sizes


def _positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return n


def _positive_float(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not (np.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}")
    return x


def _one_line(e):
    msg = str(e) if str(e) else type(e).__name__
    if isinstance(e, OSError) and e.filename and e.strerror:
        msg = f"{e.filename}: {e.strerror}"
    return " ".join(msg.split())
