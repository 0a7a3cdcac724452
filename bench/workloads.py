"""The benchmark workloads of issue 4: random X, labels from a random linear rule, one network each.

Every implementation trains the same network from the same initial weights on the same data; this module
is the single place that says what "the same" is.

    X (n_x, m)   standard normal, one column per example
    Y (1, m)     1 where w . x > 0 for a fixed random w, else 0
    params       nn.reference.initialize_parameters(layer_dims, "xavier", seed) (float64, then cast)
"""
from dataclasses import dataclass

import numpy as np

SEED = 1


@dataclass(frozen=True)
class Workload:
    name: str
    layer_dims: tuple
    m: int
    hidden: str            # hidden activation ("-" when there is no hidden layer); the output is sigmoid
    learning_rate: float   # a stable rate (see README: at the edge of stability exact methods drift apart)
    check_iterations: int  # iterations of the agreement check (the same for every implementation)

    @property
    def n_x(self):
        return self.layer_dims[0]

    @property
    def activations(self):
        L = len(self.layer_dims) - 1
        return [self.hidden] * (L - 1) + ["sigmoid"]

    def with_m(self, m):
        return Workload(self.name, self.layer_dims, m, self.hidden, self.learning_rate, self.check_iterations)


WORKLOADS = {
    w.name: w
    for w in [
        Workload("logistic", (12288, 1), 209, "-", 0.005, 200),
        Workload("cat", (12288, 20, 7, 5, 1), 209, "relu", 0.0075, 200),
        Workload("planar", (2, 4, 1), 400, "tanh", 1.2, 2000),
        Workload("wide", (784, 512, 256, 1), 8192, "relu", 0.05, 5),
        Workload("deep", (256,) + (256,) * 8 + (1,), 2048, "tanh", 0.05, 20),
    ]
}


def product_flops(layer_dims, m):
    """Flops of each layer's forward product W[l] A[l-1], 2 n[l] n[l-1] m, for l = 1..L."""
    return [2 * layer_dims[l] * layer_dims[l - 1] * m for l in range(1, len(layer_dims))]


def useful_flops(layer_dims, m):
    """Useful floating-point operations of one iteration, counted the same for every implementation:
    forward 2 n[l] n[l-1] m per layer, the same again for dW, and again for dA_prev except the first layer.
    (Elementwise work is not counted; the Gram path does other, fewer flops but is credited the same.)"""
    return sum(f * (2 if l == 0 else 3) for l, f in enumerate(product_flops(layer_dims, m)))


def make_data(workload, dtype=np.float64, seed=SEED):
    """X (n_x, m) C-contiguous and Y (1, m) of 0/1, in `dtype`. float32 data is the float64 data rounded,
    so that every dtype trains on the same examples. Generated in column blocks to keep the peak small."""
    rng = np.random.default_rng(seed)
    n_x, m = workload.n_x, workload.m
    w = rng.standard_normal(n_x)
    X = np.empty((n_x, m), dtype=dtype)
    Y = np.empty((1, m), dtype=dtype)
    block = max(1, (1 << 22) // n_x)            # ~32 MB of float64 at a time
    for j in range(0, m, block):
        cols = rng.standard_normal((n_x, min(block, m - j)))
        X[:, j:j + cols.shape[1]] = cols
        Y[0, j:j + cols.shape[1]] = (w @ cols > 0)
    return X, Y


def initial_params(workload, dtype=np.float64, seed=SEED):
    """[(W1, b1), ...] in the course layout, W (n[l], n[l-1]), b (n[l], 1); xavier, drawn in float64."""
    from nn.reference import initialize_parameters

    params = initialize_parameters(list(workload.layer_dims), "xavier", seed, np.float64)
    out = []
    for W, b in params:
        W, b = W.astype(dtype), b.astype(dtype)
        W.flags.writeable = b.flags.writeable = False   # shared by every run: a peer must copy, never update
        out.append((W, b))
    return out


def cost64(X, Y, params, activations):
    """The course's mean binary cross-entropy of `params` on (X, Y), evaluated the same way for every
    implementation: float64, from Z[L] in the stable form mean(log(1 + exp(Z)) - Y Z)."""
    A = np.asarray(X, dtype=np.float64)
    Yd = np.asarray(Y, dtype=np.float64)
    for (W, b), name in zip(params, activations):
        Z = np.asarray(W, np.float64) @ A + np.asarray(b, np.float64).reshape(-1, 1)
        if name == "sigmoid":
            A = Z  # the output layer: keep the logits
        elif name == "tanh":
            A = np.tanh(Z)
        elif name == "relu":
            A = np.maximum(Z, 0)
        elif name == "logistic":
            A = 1 / (1 + np.exp(-Z))
        else:
            raise ValueError(name)
    return float(np.mean(np.logaddexp(0, A) - Yd * A))


def call_flops(layer_dims, m, iterations):
    """Useful flops of one timed call: `iterations` iterations (useful_flops), and the forward products of the
    cost of the parameters reached, which every runner computes (peers.py)."""
    return iterations * useful_flops(layer_dims, m) + sum(product_flops(layer_dims, m))


def x_bytes(workload, dtype):
    return workload.n_x * workload.m * np.dtype(dtype).itemsize
