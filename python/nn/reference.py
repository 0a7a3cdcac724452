"""The same maths as the C++ core, in plain NumPy, written straight from the course formulas.

This module is the test oracle and the benchmark baseline: it is meant to read like the
"Neural Networks and Deep Learning" notes, not to be fast.

Notation (as in the course):
    X        (n_x, m)            one column per example
    Y        (1, m)              labels in {0, 1}
    W[l]     (n[l], n[l-1])
    b[l]     (n[l], 1)
    Z[l], A[l], dZ[l], dA[l]     (n[l], m)

``params`` is a list of ``(W, b)`` tuples, one per layer ``l = 1..L``;
``grads`` is a list of ``(dW, db)`` tuples in the same order;
``activations`` is a list of names, one per layer (the last one normally "sigmoid").
"""

import numpy as np

INITS = ("small", "xavier", "he", "zeros")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
LEAKY_SLOPE = 0.01


# ---------------------------------------------------------------------------- initialisation

def initialize_parameters(layer_dims, init="xavier", seed=None, dtype=np.float64):
    """Initialise [(W1, b1), ..., (WL, bL)] for layer_dims = [n_x, n1, ..., nL].

    W[l] (n[l], n[l-1]) is drawn from RandomState(seed).randn, layer by layer:
        "small":  randn * 0.01
        "xavier": randn / sqrt(n[l-1])
        "he":     randn * sqrt(2 / n[l-1])
        "zeros":  zeros (no draws)
    b[l] (n[l], 1) is zeros.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    rng = np.random.RandomState(seed)
    params = []
    for l in range(1, len(layer_dims)):
        n, n_prev = layer_dims[l], layer_dims[l - 1]
        if init == "small":
            W = rng.randn(n, n_prev) * 0.01
        elif init == "xavier":
            W = rng.randn(n, n_prev) / np.sqrt(n_prev)
        elif init == "he":
            W = rng.randn(n, n_prev) * np.sqrt(2 / n_prev)
        else:  # "zeros"
            W = np.zeros((n, n_prev))
        b = np.zeros((n, 1))
        params.append((W.astype(dtype), b.astype(dtype)))
    return params


# ---------------------------------------------------------------------------- forward

def linear_forward(A_prev, W, b):
    """Z = W A_prev + b.   A_prev (n_prev, m), W (n, n_prev), b (n, 1) -> Z (n, m)."""
    return W @ A_prev + b


def sigmoid(Z):
    """1 / (1 + exp(-Z)), written with exp(-|Z|) so that no exp overflows."""
    E = np.exp(-np.abs(Z))                       # in (0, 1]
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def activation_forward(Z, name):
    """A = g(Z), elementwise; Z (n, m) -> A (n, m)."""
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(0, Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "linear":
        return Z
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")


def forward(X, params, activations):
    """Forward propagation through all L layers.

    X (n_x, m) -> AL (n[L], m) and caches, a list with one (A_prev, W, b, Z) per layer.
    """
    caches = []
    A = X
    for (W, b), name in zip(params, activations):
        A_prev = A
        Z = linear_forward(A_prev, W, b)
        A = activation_forward(Z, name)
        caches.append((A_prev, W, b, Z))
    return A, caches


# ---------------------------------------------------------------------------- cost

def cost(AL, Y):
    """Binary cross-entropy J = -1/m sum(Y log(AL) + (1 - Y) log(1 - AL)).   AL, Y (1, m) -> float."""
    m = Y.shape[1]
    J = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    return float(J)


# ---------------------------------------------------------------------------- backward

def activation_backward(dA, Z, name):
    """dZ = dA * g'(Z), elementwise; dA, Z (n, m) -> dZ (n, m)."""
    if name == "sigmoid":
        # s (1 - s), with 1 - s written as sigmoid(-Z): the same number, without the cancellation
        # that 1 - s suffers when s is close to 1
        return dA * sigmoid(Z) * sigmoid(-Z)
    if name == "tanh":
        return dA * (1 - np.tanh(Z) ** 2)
    if name == "relu":
        return dA * (Z > 0)                      # g'(Z) = 0 for Z <= 0
    if name == "leaky_relu":
        return np.where(Z > 0, dA, LEAKY_SLOPE * dA)          # g'(Z) = 1 for Z > 0, else 0.01
    if name == "linear":
        return dA * 1
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")


def linear_backward(dZ, A_prev, W):
    """dZ (n, m), A_prev (n_prev, m), W (n, n_prev) -> dA_prev (n_prev, m), dW (n, n_prev), db (n, 1)."""
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T / m
    db = dZ.sum(axis=1, keepdims=True) / m
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def backward(AL, Y, caches, activations):
    """Backward propagation for a sigmoid output with binary cross-entropy.

    AL, Y (1, m); caches from forward -> grads [(dW1, db1), ..., (dWL, dbL)].
    """
    if activations[-1] != "sigmoid":
        raise ValueError("backward needs a sigmoid output layer (dZ[L] = AL - Y)")
    L = len(caches)
    m = AL.shape[1]
    grads = [None] * L
    dZ = AL - Y                                                  # dZ[L]
    for l in range(L, 0, -1):                                    # l = L, ..., 1
        A_prev, W, b, Z = caches[l - 1]
        dW = dZ @ A_prev.T / m
        db = dZ.sum(axis=1, keepdims=True) / m
        grads[l - 1] = (dW, db)
        if l > 1:                                                # layer 1 needs no dA[0]
            dA_prev = W.T @ dZ
            Z_prev = caches[l - 2][3]
            dZ = activation_backward(dA_prev, Z_prev, activations[l - 2])
    return grads


# ---------------------------------------------------------------------------- update and training

def update(params, grads, learning_rate):
    """Gradient descent step: W = W - learning_rate dW, b = b - learning_rate db (new list)."""
    return [(W - learning_rate * dW, b - learning_rate * db)
            for (W, b), (dW, db) in zip(params, grads)]


def train(X, Y, params, activations, learning_rate, iterations, record_every=100):
    """Batch gradient descent: forward, cost, backward, update, `iterations` times.

    The cost is recorded before the update of every iteration i with i % record_every == 0,
    and once more for the final parameters (iteration number `iterations`).
    Returns (params, recorded iteration numbers, recorded costs).
    """
    recorded, costs = [], []
    for i in range(iterations):
        AL, caches = forward(X, params, activations)
        if i % record_every == 0:
            recorded.append(i)
            costs.append(cost(AL, Y))
        grads = backward(AL, Y, caches, activations)
        params = update(params, grads, learning_rate)
    AL, _ = forward(X, params, activations)
    recorded.append(iterations)
    costs.append(cost(AL, Y))
    return params, np.array(recorded, dtype=np.int64), np.array(costs, dtype=np.float64)
