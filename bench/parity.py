"""Parity margins: how far nn is from nn.reference, measured (the tests assert bounds; this prints the values).

    python bench/parity.py

Relative error is max|a - b| / max|b| per array (the tests' measure); the worst over each group is printed.
"""
import numpy as np

import nn
from nn import functional as F
from nn import reference as R

ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def operations(dtype, rng, shapes=((1, 1, 1), (1, 7, 1), (5, 1, 9), (13, 17, 31), (64, 128, 200))):
    worst = 0.0
    for n, n_prev, m in shapes:
        for order in ("C", "F"):
            A = np.asarray(rng.randn(n_prev, m).astype(dtype), order=order)
            W = np.asarray(rng.randn(n, n_prev).astype(dtype), order=order)
            b = rng.randn(n, 1).astype(dtype)
            dZ = np.asarray(rng.randn(n, m).astype(dtype), order=order)
            up = lambda x: x.astype(np.float64)  # noqa: E731  the reference runs in float64 on the same inputs
            worst = max(worst, rel(F.linear_forward(A, W, b), R.linear_forward(up(A), up(W), up(b))))
            for got, want in zip(F.linear_backward(dZ, A, W), R.linear_backward(up(dZ), up(A), up(W))):
                worst = max(worst, rel(got, want))
            Z = F.linear_forward(A, W, b)
            for g in ACTS:
                worst = max(worst, rel(F.activation_forward(Z, g), R.activation_forward(up(Z), g)))
                worst = max(worst, rel(F.activation_backward(dZ, Z, g), R.activation_backward(up(dZ), up(Z), g)))
    return worst


def training(dtype, first_layer, rng, iterations=200):
    X = rng.randn(8, 64)
    Y = (rng.randn(1, 8) @ X > 0).astype(np.float64)
    worst_cost = worst_param = 0.0
    for g in ACTS:
        net = nn.Network([8, 6, 4, 1], hidden=g, seed=3, dtype=dtype)
        p0 = [(W.astype(np.float64), b.astype(np.float64)) for W, b in net.params]
        hist = net.fit(X, Y, learning_rate=0.1, iterations=iterations, record_every=10, first_layer=first_layer)
        params, _, costs = R.train(X, Y, p0, [g, g, "sigmoid"], 0.1, iterations, 10)
        worst_cost = max(worst_cost, rel(hist.costs, costs))
        for (W, b), (W_ref, b_ref) in zip(net.params, params):
            worst_param = max(worst_param, rel(W, W_ref), rel(b, b_ref))
    return worst_cost, worst_param


def main():
    rng = np.random.RandomState(0)
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        print(f"{name}: every nn.functional operation, C and F order, worst relative error {operations(dtype, rng):.2e}")
        for first_layer in ("primal", "gram"):
            c, p = training(dtype, first_layer, rng)
            print(f"{name}: Network.fit 200 iterations, first_layer={first_layer}, every activation: "
                  f"costs {c:.2e}, parameters {p:.2e}")


if __name__ == "__main__":
    main()
