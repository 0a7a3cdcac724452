"""nn.Network: the L-layer network of the course, trained by the C++ core.

The whole loop (forward, cost, backward, update) runs in C++ with the GIL released; control comes back to
Python only at record points (cost history, progress bar, printing, callback).
"""
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from . import _core
from ._blas import get_blas
from ._validation import (
    as_matrix,
    check_activations,
    check_memory,
    check_name,
    check_dtype,
    check_int,
    check_layer_dims,
    check_positive_float,
    check_X,
    check_Y,
    common_dtype,
)
from .init import initialize_parameters


@dataclass
class History:
    """Costs of one `fit`: costs[k] is the cost at iteration iterations[k], computed before that
    iteration's update; the last entry is the cost after the final iteration (iterations done)."""

    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    costs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    learning_rate: float = 0.0
    seconds: float = 0.0

    def __len__(self):
        return len(self.costs)


class Network:
    """A fully connected network for binary classification, in the course's notation.

    >>> net = Network([12288, 20, 7, 5, 1], hidden="relu", init="xavier", seed=1)
    >>> hist = net.fit(X, Y, learning_rate=0.0075, iterations=2500)   # X (n_x, m), Y (1, m) of 0/1
    >>> net.predict(X)                                                  # (1, m) of 0/1

    `Network([n_x, 1], init="zeros")` is logistic regression.
    """

    def __init__(self, layer_dims, hidden="relu", activations=None, output="sigmoid", init="xavier", seed=None,
                 dtype=np.float64):
        self.layer_dims = check_layer_dims(layer_dims)
        self.activations = check_activations(len(self.layer_dims) - 1, hidden, activations, output)
        self.dtype = check_dtype(dtype)
        # W and dW (which doubles as the buffer the step writes into), b and db
        n_params = sum(n * (n_prev + 1) for n_prev, n in zip(self.layer_dims[:-1], self.layer_dims[1:]))
        check_memory(2 * n_params * self.dtype.itemsize, f"a network with layer_dims {list(self.layer_dims)}")
        self.init = init
        self.seed = seed
        self._core = getattr(_core, f"Network_{self.dtype.name}")(list(self.layer_dims), list(self.activations))
        self._fit_lock = threading.RLock()
        self.history_: Optional[History] = None
        self.first_layer_: Optional[str] = None
        self.train_settings_: Optional[dict] = None
        self.preprocessing = None
        if init is not None:
            self._core.set_params(initialize_parameters(self.layer_dims, init, seed, self.dtype))

    @classmethod
    def from_params(cls, params, hidden="relu", activations=None, output="sigmoid", dtype=None):
        """A network starting from given [(W1, b1), ..., (WL, bL)]; layer sizes are read off the shapes."""
        params = _check_params(params, dtype)
        dims = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
        net = cls(dims, hidden=hidden, activations=activations, output=output, init=None,
                  dtype=params[0][0].dtype)
        net._core.set_params(params)
        return net

    @property
    def params(self):
        """[(W1, b1), ..., (WL, bL)] as new NumPy arrays (changing them does not change the network)."""
        return [tuple(pair) for pair in self._core.get_params()]

    def fit(self, X, Y, learning_rate=0.0075, iterations=2500, record_every=100, verbose=False,
            print_every=None, callback: Optional[Callable] = None, first_layer="auto") -> History:
        """Batch gradient descent on (X, Y), continuing from the current parameters.

        X is (n_x, m), one column per example; Y is (1, m) of 0/1. The cost is recorded every `record_every`
        iterations and after the last. `verbose` shows a progress bar, `print_every=k` prints the course's
        "Cost after iteration i" lines, `callback(iteration, cost)` is called at each record point and may
        return False to stop there. Ctrl-C stops after the iteration in progress (the parameters are those of
        a completed iteration) and re-raises KeyboardInterrupt, with `history_` holding the costs so far.
        If the cost becomes NaN or infinite, fit raises FloatingPointError naming the iteration and keeps
        the parameters of the iteration before it.

        `first_layer`: "primal" trains W[1] directly; "gram" carries the first layer in Gram space
        (G = X^T X, exact, much less work when examples are fewer than features; see gram.hpp); "auto" picks
        the one that does less work. Both give the same parameters up to rounding.

        Afterwards `train_settings_` holds the settings and how the loop ran: `example_slices`, the threads
        the examples were split across (1: one thread, OpenBLAS threading the products);
        `streamed_first_layer`, whether a first layer of one unit or a few read X once per iteration instead of
        twice; `one_thread`, whether iterations too small to share kept OpenBLAS at one thread; and `blas`,
        the library of the products made on one thread ("openblas" or "mkl", see nn.set_blas).
        """
        X = check_X(X, self.layer_dims[0], self.dtype)
        Y = check_Y(Y, X.shape[1], self.layer_dims[-1], self.dtype)
        learning_rate = check_positive_float(learning_rate, "learning_rate", self.dtype)
        iterations = check_int(iterations, "iterations", 0)
        record_every = check_int(record_every, "record_every", 1)
        if print_every is not None:
            print_every = check_int(print_every, "print_every", 1)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback: expected a callable (iteration, cost) -> bool or None, got {callback!r}")
        check_name(first_layer, "first_layer", ("auto", "gram", "primal"))
        if first_layer == "auto":
            first_layer = choose_first_layer(self.layer_dims, X.shape[1], iterations, self.dtype.itemsize)
        self.first_layer_ = first_layer
        check_memory(_workspace_bytes(self.layer_dims, X.shape[1], first_layer == "gram", self.dtype.itemsize),
                     f"fit on {X.shape[1]} examples")

        with self._fit_lock:  # one fit at a time per network; re-entrant, so a callback may use the network
            return self._fit(X, Y, learning_rate, iterations, record_every, verbose, print_every, callback,
                             first_layer)

    def _fit(self, X, Y, learning_rate, iterations, record_every, verbose, print_every, callback, first_layer):
        recorded_at, costs = [], []
        bar = _progress_bar(iterations) if verbose else None
        start = time.perf_counter()
        try:
            slices, streamed, one_thread = 1, False, False
            blas = get_blas()  # the library of the one-thread products, as the fit starts (nn/_blas.py)
            self._core.begin_fit(X, Y, learning_rate, first_layer == "gram")
            slices, streamed, one_thread = self._core.fit_plan()
            i, n = 0, 0
            while True:
                # train(n) returns with the network at iteration i + done and the cost of those parameters
                cost, done, diverged, reverted = self._core.train(n)
                i += done
                if diverged:
                    raise FloatingPointError(_divergence_message(i, reverted, learning_rate))
                if bar is not None:
                    bar.update(done)
                    bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
                if i % record_every == 0 or i == iterations:
                    recorded_at.append(i)
                    costs.append(cost)
                    if callback is not None and callback(i, cost) is False:
                        break
                if print_every is not None and i % print_every == 0 and i < iterations:
                    print(f"Cost after iteration {i}: {cost}")
                if i == iterations:
                    break
                n = _next_stop(i, iterations, record_every, print_every) - i
        finally:
            self._core.end_fit()
            seconds = time.perf_counter() - start
            if bar is not None:
                bar.close()
            self.history_ = History(np.array(recorded_at, dtype=np.int64), np.array(costs, dtype=np.float64),
                                    learning_rate, seconds)
            self.train_settings_ = {"learning_rate": learning_rate, "iterations": iterations,
                                    "record_every": record_every, "first_layer": first_layer,
                                    "example_slices": slices,
                                    "streamed_first_layer": bool(streamed), "one_thread": bool(one_thread),
                                    "blas": blas, "seconds": seconds}
        return self.history_

    def predict_proba(self, X) -> np.ndarray:
        """A[L] = P(y = 1 | x), shape (1, m). Exactly 0 or 1 where |z[L]| > 87 in float32 (708 in float64):
        there e^-|z| is below 1.5 times the dtype's smallest normal number and is taken as 0 (see the README)."""
        return self._core.predict_proba(check_X(X, self.layer_dims[0], self.dtype))

    def predict(self, X) -> np.ndarray:
        """0/1 predictions, shape (1, m): 1 where the probability is above 0.5."""
        return (self.predict_proba(X) > 0.5).astype(np.int64)

    def cost(self, X, Y) -> float:
        """Binary cross-entropy of the current parameters on (X, Y)."""
        X = check_X(X, self.layer_dims[0], self.dtype)
        Y = check_Y(Y, X.shape[1], self.layer_dims[-1], self.dtype)
        return float(self._core.cost(X, Y))

    def save(self, path, overwrite=False):
        """Write the network to a versioned .npz file (see nn.io); an existing file is kept unless overwrite."""
        from .io import save

        save(self, path, overwrite=overwrite)

    def __repr__(self):
        return (f"Network({list(self.layer_dims)}, activations={list(self.activations)}, "
                f"dtype=np.{self.dtype.name})")


def _workspace_bytes(layer_dims, m, gram, itemsize):
    """What begin_fit allocates (see Workspace and GramFirstLayer in the C++ core)."""
    n_x, n1 = layer_dims[0], layer_dims[1]
    threads = max(1, _core.blas_get_num_threads())
    activations = sum(layer_dims[1:]) * m
    # and dA: whole, or a block per thread of the split loop (Workspace::slices)
    dA = max(activations // _core.dA_whole_fraction, _core.dA_block_bytes // itemsize * threads,
             16 * max(layer_dims[:-1]))
    elements = activations + dA
    streamed = (m <= _core.streamed_max_m if n1 == 1 else
                n1 <= _core.streamed_max_units and n1 * m * itemsize <= _core.streamed_units_max_part_bytes)
    if streamed:  # a streamed first layer's parts of W[1] X, one per thread, and dZ[1]^T (padded)
        elements += threads * _core.streamed_part_stride(n1 * m, itemsize)
        if n1 > 1:
            elements += m * _core.streamed_units_padding(n1, itemsize)
    if gram:
        elements += m * m + 3 * n1 * m + n1 * n_x
    return elements * itemsize


def _divergence_message(iteration, reverted, learning_rate):
    kept = (f"the network keeps the parameters of iteration {iteration - 1}, whose cost was finite" if reverted
            else "the parameters are unchanged")
    return (f"fit: the cost is NaN or infinite at iteration {iteration} (is learning_rate={learning_rate} too "
            f"large?); {kept}")


# Machine balance in flops per byte: a pass over memory costs at least this many flops' worth of time
# (about 100 GFLOP/s against 10-20 GB/s on these machines). Skinny products (n1 small) are bound by memory.
BALANCE = 8


def choose_first_layer(layer_dims, m, iterations, itemsize=8):
    """"gram" when the Gram path costs clearly less time over the whole fit than "primal".

    Each product is costed at max(flops, BALANCE * bytes it must stream). Per iteration the primal first layer
    does W1 X and dZ1 X^T (2 n1 n_x m flops each, each streaming X); the Gram one does S G (2 n1 m^2 flops,
    streaming G). Once per fit the Gram path forms G = X^T X (2 n_x m^2), L0 = W1 X and, at the end, W1.
    Never when G (m x m) would be larger than X (n_x x m): "auto" does not trade memory for speed.
    """
    n_x, n1 = layer_dims[0], layer_dims[1]
    if m > n_x:
        return "primal"

    def product(flops, streamed):
        return max(flops, BALANCE * streamed * itemsize)

    x_pass = product(2 * n1 * n_x * m, n_x * m)
    primal = iterations * 2 * x_pass
    gram = iterations * product(2 * n1 * m * m, m * m) + 2 * n_x * m * m + 2 * x_pass
    return "gram" if gram < 0.8 * primal else "primal"


def _next_stop(i, iterations, record_every, print_every):
    """The next iteration after i at which the loop must come back to Python."""
    stop = (i // record_every + 1) * record_every
    if print_every is not None:
        stop = min(stop, (i // print_every + 1) * print_every)
    return min(stop, iterations)


def _progress_bar(iterations):
    from tqdm.auto import tqdm

    return tqdm(total=iterations, unit="it", desc="fit", file=sys.stderr, dynamic_ncols=True)


def _check_params(params, dtype):
    if isinstance(params, (str, bytes)) or not hasattr(params, "__len__") or len(params) == 0:
        raise TypeError("params: expected a non-empty list of (W, b) pairs")
    pairs = []
    for l, pair in enumerate(params, start=1):
        if not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"params[{l - 1}]: expected a (W{l}, b{l}) pair")
        pairs.append((np.asarray(pair[0]), np.asarray(pair[1])))
    if dtype is None:
        kinds = {a.dtype for pair in pairs for a in pair}
        if len(kinds) > 1:
            raise TypeError(f"params: arrays have different dtypes {sorted(str(k) for k in kinds)}; pass dtype=")
        dtype = common_dtype(*[a for pair in pairs for a in pair])
    dtype = check_dtype(dtype)
    out = []
    for l, (W, b) in enumerate(pairs, start=1):
        W = as_matrix(W, f"W{l}", dtype, "(n[l], n[l-1])")
        if b.ndim == 1:
            b = b.reshape(-1, 1)
        b = np.ascontiguousarray(as_matrix(b, f"b{l}", dtype, "(n[l], 1)"))
        if W.shape[0] == 0 or W.shape[1] == 0:
            raise ValueError(f"W{l}: layer sizes must be positive, got shape {W.shape}")
        if b.shape != (W.shape[0], 1):
            raise ValueError(f"b{l}: expected shape ({W.shape[0]}, 1) to match W{l} {W.shape}, got {b.shape}")
        if out and W.shape[1] != out[-1][0].shape[0]:
            raise ValueError(f"W{l}: expected {out[-1][0].shape[0]} columns (the size of layer {l - 1}), "
                             f"got shape {W.shape}")
        out.append((W, b))
    return out
