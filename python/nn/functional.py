"""The course's building blocks, one function per operation, computed by the C++ core.

Same names, arguments and shapes as `nn.reference` (and the course notes): `params` is a list of (W, b)
pairs, `caches` a list of (A_prev, W, b, Z), one per layer. Inputs may be any float array-likes; float32
inputs give float32 results, anything else float64. C- and F-ordered arrays are used in place.
"""
import numpy as np

from . import _core
from ._validation import ACTIVATIONS, as_matrix, check_labels, check_name, check_positive_float, common_dtype


def _kernel(name, dtype):
    return getattr(_core, f"{name}_{dtype.name}")


def _same_order(x, like):
    """x in the memory order of `like`, so an elementwise kernel can walk both as flat arrays."""
    if like.flags.f_contiguous and not like.flags.c_contiguous:
        return np.asfortranarray(x)
    return np.ascontiguousarray(x)


def _bias(b, name, dtype):
    b = np.asarray(b)
    if b.ndim == 1:
        b = b.reshape(-1, 1)
    return np.ascontiguousarray(as_matrix(b, name, dtype, shape_hint="(n, 1)"))


def linear_forward(A_prev, W, b):
    """Z = W A_prev + b.   A_prev (n_prev, m), W (n, n_prev), b (n, 1) -> Z (n, m)"""
    dt = common_dtype(A_prev, W, b)
    A_prev = as_matrix(A_prev, "A_prev", dt, "(n_prev, m)")
    W = as_matrix(W, "W", dt, "(n, n_prev)")
    b = _bias(b, "b", dt)
    if W.shape[1] != A_prev.shape[0]:
        raise ValueError(f"W: expected {A_prev.shape[0]} columns to match A_prev {A_prev.shape}, got {W.shape}")
    if b.shape[0] != W.shape[0]:
        raise ValueError(f"b: expected shape ({W.shape[0]}, 1) to match W {W.shape}, got {b.shape}")
    return _kernel("linear_forward", dt)(A_prev, W, b)


def activation_forward(Z, name):
    """A = g(Z), elementwise; name is one of 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear'."""
    check_name(name, "name", ACTIVATIONS)
    dt = common_dtype(Z)
    return _kernel("activation_forward", dt)(as_matrix(Z, "Z", dt), name)


def activation_backward(dA, Z, name):
    """dZ = dA * g'(Z), elementwise."""
    check_name(name, "name", ACTIVATIONS)
    dt = common_dtype(dA, Z)
    dA = as_matrix(dA, "dA", dt)
    Z = as_matrix(Z, "Z", dt)
    if Z.shape != dA.shape:
        raise ValueError(f"Z: expected the shape of dA {dA.shape}, got {Z.shape}")
    return _kernel("activation_backward", dt)(dA, _same_order(Z, dA), name)


def linear_backward(dZ, A_prev, W):
    """(dA_prev, dW, db) = (W^T dZ, dZ A_prev^T / m, row sums of dZ / m)."""
    return _linear_backward(dZ, A_prev, W, need_dA_prev=True)


def _linear_backward(dZ, A_prev, W, need_dA_prev):
    dt = common_dtype(dZ, A_prev, W)
    dZ = as_matrix(dZ, "dZ", dt, "(n, m)")
    A_prev = as_matrix(A_prev, "A_prev", dt, "(n_prev, m)")
    W = as_matrix(W, "W", dt, "(n, n_prev)")
    if A_prev.shape[1] != dZ.shape[1]:
        raise ValueError(f"A_prev: expected {dZ.shape[1]} columns to match dZ {dZ.shape}, got {A_prev.shape}")
    if W.shape != (dZ.shape[0], A_prev.shape[0]):
        raise ValueError(f"W: expected shape {(dZ.shape[0], A_prev.shape[0])}, got {W.shape}")
    return _kernel("linear_backward", dt)(dZ, A_prev, W, need_dA_prev)


def cost(AL, Y):
    """Binary cross-entropy J = -1/m sum(Y log AL + (1 - Y) log(1 - AL)), a Python float."""
    dt = common_dtype(AL, Y)
    AL, Y = _output_and_labels(AL, Y, dt)
    if not np.all((AL >= 0) & (AL <= 1)):
        raise ValueError("AL: expected probabilities in [0, 1]")
    return float(_kernel("cost", dt)(np.ascontiguousarray(AL), np.ascontiguousarray(Y)))


def _output_and_labels(AL, Y, dt):
    """AL and Y as (1, m) arrays of one shape, Y of 0/1 labels."""
    AL = as_matrix(AL, "AL", dt, "(1, m)")
    Y = as_matrix(Y, "Y", dt, "(1, m)")
    if AL.shape[0] != 1:
        raise ValueError(f"AL: expected one row (1, m), got shape {AL.shape}")
    if Y.shape != AL.shape:
        raise ValueError(f"Y: expected the shape of AL {AL.shape}, got {Y.shape}")
    check_labels(Y)
    return AL, Y


def forward(X, params, activations):
    """(AL, caches): each layer Z = W A_prev + b, A = g(Z); caches[l] = (A_prev, W, b, Z)."""
    params, activations = _check_params(params, activations)
    A = as_matrix(X, "X", common_dtype(X), "(n_x, m)")
    caches = []
    for (W, b), g in zip(params, activations):
        Z = linear_forward(A, W, b)
        caches.append((A, W, b, Z))
        A = activation_forward(Z, g)
    return A, caches


def backward(AL, Y, caches, activations):
    """[(dW1, db1), ..., (dWL, dbL)] for a sigmoid output with binary cross-entropy, dZ[L] = AL - Y."""
    if isinstance(caches, (str, bytes)) or not hasattr(caches, "__len__"):
        raise TypeError(f"caches: expected the list returned by forward, got {type(caches).__name__}")
    _check_activations(activations, len(caches))
    if activations[-1] != "sigmoid":
        raise ValueError(f"activations: the output layer must be 'sigmoid', got {activations[-1]!r}")
    dt = common_dtype(AL, Y)
    AL, Y = _output_and_labels(AL, Y, dt)
    dZ = AL - Y  # the sigmoid and cross-entropy derivatives together
    grads = [None] * len(caches)
    for l in reversed(range(len(caches))):
        A_prev, W, b, Z = caches[l]
        # the first layer needs no dA[0]
        dA_prev, dW, db = _linear_backward(dZ, A_prev, W, need_dA_prev=l > 0)
        grads[l] = (dW, db)
        if l > 0:
            dZ = activation_backward(dA_prev, caches[l - 1][3], activations[l - 1])
    return grads


def update(params, grads, learning_rate):
    """New parameters W - learning_rate dW, b - learning_rate db (the inputs are left as they were)."""
    check_positive_float(learning_rate, "learning_rate")
    for what, value in (("params", params), ("grads", grads)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"{what}: expected a list of pairs, got {type(value).__name__}")
    if len(grads) != len(params):
        raise ValueError(f"grads: expected {len(params)} (dW, db) pairs, got {len(grads)}")
    new = []
    for l, ((W, b), (dW, db)) in enumerate(zip(params, grads), start=1):
        pair = []
        for P, dP, name in ((W, dW, f"W{l}"), (b, db, f"b{l}")):
            dt = common_dtype(P, dP)
            P = as_matrix(P, name, dt)
            dP = as_matrix(dP, "d" + name, dt)
            if dP.shape != P.shape:
                raise ValueError(f"d{name}: expected shape {P.shape}, got {dP.shape}")
            lr = check_positive_float(learning_rate, "learning_rate", dt)  # must stay finite in dt
            pair.append(_kernel("update", dt)(P, _same_order(dP, P), lr))
        new.append(tuple(pair))
    return new


def _check_activations(activations, n_layers):
    if isinstance(activations, (str, bytes)) or not hasattr(activations, "__len__"):
        raise TypeError(f"activations: expected a list of {n_layers} names, one per layer, got {activations!r}")
    if len(activations) != n_layers:
        raise ValueError(f"activations: expected {n_layers} names (one per layer), got {len(activations)}")
    for l, g in enumerate(activations):
        check_name(g, f"activations[{l}]", ACTIVATIONS)


def _check_params(params, activations):
    if isinstance(params, (str, bytes)) or not hasattr(params, "__len__"):
        raise TypeError(f"params: expected a list of (W, b) pairs, got {type(params).__name__}")
    _check_activations(activations, len(params))
    for l, pair in enumerate(params, start=1):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"params[{l - 1}]: expected a (W{l}, b{l}) pair")
    return list(params), list(activations)
