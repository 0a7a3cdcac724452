"""Parity of every nn.functional operation with nn.reference.

float64: within 1e-12 relative (normwise, max norm). float32: within 1e-5 relative of the reference computed in
float64 from the same float32 inputs. Matrix products are measured against their error-bound scale max(|A| |B|)
and saturating derivatives against max|dA| (see check_linear_forward and check_dZ below). Shapes include m = 1, n = 1, n_prev = 1 and non-square; inputs come in C and
F order (every C/F combination for the gemm inputs W, A_prev, dZ). Output dtype must equal input dtype.
"""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn import functional, reference
from helpers import assert_close, assert_params_close

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
DTYPES = [np.float64, np.float32]
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
ORDERS = ["C", "F"]

# (n, n_prev, m): scalars, vectors, m = 1, n = 1, n_prev = 1, non-square both ways, and one larger block
GEMM_SHAPES = [
    (1, 1, 1), (1, 5, 1), (5, 1, 1), (1, 1, 7), (3, 5, 1), (1, 5, 7), (5, 1, 7),
    (4, 7, 9), (7, 4, 9), (9, 9, 2), (37, 19, 53),
]
ELEMENTWISE_SHAPES = [(1, 1), (1, 7), (6, 1), (5, 9), (33, 65)]


def rand(rng, shape, dtype, order="C", scale=1.0):
    """randn(shape) * scale, cast to dtype, laid out in C or F order."""
    a = (rng.randn(*shape) * scale).astype(dtype)
    return np.asfortranarray(a) if order == "F" else np.ascontiguousarray(a)


def f64(*arrays):
    """The float64 copies the reference is computed on (exact for float32 inputs)."""
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def check(actual, expected, dtype, what, scale=0.0):
    """Shape, dtype and values of one output against the float64 reference."""
    assert isinstance(actual, np.ndarray), f"{what}: expected an ndarray, got {type(actual).__name__}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype} != input dtype {np.dtype(dtype)}"
    assert_close(actual, expected, RTOL[np.dtype(dtype)], what, scale)


# Matrix products are judged on the scale of their standard error bound, |fl(A B) - A B| <= k eps |A| |B|:
# the max norm of |A| |B| rather than of A B, so that an output which cancels to nearly nothing (a single dot
# product, a row sum of mixed signs) is not held to a relative accuracy no summation order can give.

def check_linear_forward(Z, A_prev, W, b, dtype):
    A_prev, W, b = f64(A_prev, W, b)
    scale = float(np.max(np.abs(W) @ np.abs(A_prev) + np.abs(b)))
    check(Z, reference.linear_forward(A_prev, W, b), dtype, "Z", scale)


def check_linear_backward(outputs, dZ, A_prev, W, dtype):
    dZ, A_prev, W = f64(dZ, A_prev, W)
    m = A_prev.shape[1]
    scales = [np.max(np.abs(W).T @ np.abs(dZ)),                  # dA_prev = W.T dZ
              np.max(np.abs(dZ) @ np.abs(A_prev).T) / m,         # dW = dZ A_prev.T / m
              np.max(np.abs(dZ).sum(axis=1)) / m]                # db = sum(dZ) / m
    assert len(outputs) == 3, "linear_backward returns (dA_prev, dW, db)"
    for out, ref, scale, what in zip(outputs, reference.linear_backward(dZ, A_prev, W), scales,
                                     ["dA_prev", "dW", "db"]):
        check(out, ref, dtype, what, float(scale))


# max g'(Z) of the saturating activations. Their derivatives, s (1 - s) and 1 - tanh^2, are computed with an
# absolute error of order eps (1 - s cancels as s -> 1), so when every Z of a small array is saturated dZ is tiny
# and only known to ~eps * |dA|: such dZ is judged on the scale max|dA| * max g'. The others are judged on dZ alone.
DERIVATIVE_SCALE = {"sigmoid": 0.25, "tanh": 1.0}


def check_dZ(actual, dA, Z, name, dtype):
    """activation_backward output against the reference computed in float64 from the same inputs."""
    expected = reference.activation_backward(*f64(dA, Z), name)
    scale = DERIVATIVE_SCALE.get(name, 0.0) * float(np.max(np.abs(dA)))
    check(actual, expected, dtype, f"{name} dZ", scale)


def labels(rng, m, dtype):
    Y = (rng.rand(1, m) > 0.5).astype(dtype)
    Y[0, 0] = 1  # both classes present whenever m > 1
    if m > 1:
        Y[0, -1] = 0
    return Y


# ------------------------------------------------------------------ single operations, explicit edge cases

@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("order_W, order_A", list(itertools.product(ORDERS, ORDERS)))
@pytest.mark.parametrize("shape", GEMM_SHAPES, ids=str)
def test_linear_forward(shape, order_W, order_A, dtype):
    n, n_prev, m = shape
    rng = np.random.RandomState(hash(shape) % 2**31)
    A_prev = rand(rng, (n_prev, m), dtype, order_A)
    W = rand(rng, (n, n_prev), dtype, order_W)
    b = rand(rng, (n, 1), dtype)
    Z = functional.linear_forward(A_prev, W, b)
    check_linear_forward(Z, A_prev, W, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("orders", list(itertools.product(ORDERS, repeat=3)), ids="".join)
@pytest.mark.parametrize("shape", GEMM_SHAPES, ids=str)
def test_linear_backward(shape, orders, dtype):
    n, n_prev, m = shape
    order_dZ, order_A, order_W = orders
    rng = np.random.RandomState(hash(shape) % 2**31 + 1)
    dZ = rand(rng, (n, m), dtype, order_dZ)
    A_prev = rand(rng, (n_prev, m), dtype, order_A)
    W = rand(rng, (n, n_prev), dtype, order_W)
    check_linear_backward(functional.linear_backward(dZ, A_prev, W), dZ, A_prev, W, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_gemm_inputs_not_contiguous(dtype):
    """Strided views (neither C nor F contiguous) give the same results as their contiguous copies."""
    rng = np.random.RandomState(7)
    A_prev = rand(rng, (6, 22), dtype)[:, ::2]         # (6, 11), column stride 2
    W = rand(rng, (10, 6), dtype)[::2, :]              # (5, 6), row stride 2
    b = rand(rng, (5, 2), dtype)[:, :1]                # (5, 1), row stride 2
    dZ = rand(rng, (5, 11), dtype, "F")[:, :]          # F order
    dZ_strided = rand(rng, (10, 11), dtype)[::2]
    assert not (A_prev.flags.c_contiguous or A_prev.flags.f_contiguous)
    check_linear_forward(functional.linear_forward(A_prev, W, b), A_prev, W, b, dtype)
    for dZ_ in (dZ, dZ_strided):
        check_linear_backward(functional.linear_backward(dZ_, A_prev, W), dZ_, A_prev, W, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(name, shape, order, dtype):
    rng = np.random.RandomState(sum(shape) + len(name))
    Z = rand(rng, shape, dtype, order, scale=3.0)
    dA = rand(rng, shape, dtype, order)
    check(functional.activation_forward(Z, name), reference.activation_forward(*f64(Z), name), dtype, f"{name} A")
    check_dZ(functional.activation_backward(dA, Z, name), dA, Z, name, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_extreme_inputs(name, dtype):
    """|Z| up to 800: no overflow warnings, no NaN/inf, saturation agrees with the reference."""
    Z = np.concatenate([np.linspace(-800, 800, 41), [-40.0, -20.0, 20.0, 40.0]]).reshape(5, 9).astype(dtype)
    dA = np.ones_like(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = functional.activation_forward(Z, name)
        dZ = functional.activation_backward(dA, Z, name)
        A_ref = reference.activation_forward(*f64(Z), name)
        reference.activation_forward(Z, name), reference.activation_backward(dA, Z, name)  # the oracle neither
    check(A, A_ref, dtype, f"{name} A")
    check_dZ(dZ, dA, Z, name, dtype)


@pytest.mark.parametrize("module", [functional, reference], ids=["functional", "reference"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_activation_values_at_the_kink(module, dtype):
    """Course conventions, literally: relu'(0) = 0, leaky_relu'(0) = 0.01, leaky slope 0.01."""
    Z = np.array([[-2.0, 0.0, 3.0]], dtype=dtype)
    dA = np.array([[5.0, 7.0, 11.0]], dtype=dtype)
    expected = {
        "relu": ([[0.0, 0.0, 3.0]], [[0.0, 0.0, 11.0]]),
        "leaky_relu": ([[-0.02, 0.0, 3.0]], [[0.05, 0.07, 11.0]]),
        "linear": ([[-2.0, 0.0, 3.0]], [[5.0, 7.0, 11.0]]),
        "sigmoid": ([[1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-3.0))]],
                    [[5.0 * np.exp(2.0) / (1 + np.exp(2.0)) ** 2, 7.0 * 0.25,
                      11.0 * np.exp(-3.0) / (1 + np.exp(-3.0)) ** 2]]),
        "tanh": ([[np.tanh(-2.0), 0.0, np.tanh(3.0)]],
                 [[5.0 / np.cosh(2.0) ** 2, 7.0, 11.0 / np.cosh(3.0) ** 2]]),
    }
    for name, (A_expected, dZ_expected) in expected.items():
        check(module.activation_forward(Z, name), np.array(A_expected), dtype, f"{name} A")
        check(module.activation_backward(dA, Z, name), np.array(dZ_expected), dtype, f"{name} dZ")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("m", [1, 2, 7, 100, 1000])
def test_cost(m, dtype):
    rng = np.random.RandomState(m)
    AL = rng.uniform(0.02, 0.98, size=(1, m)).astype(dtype)
    Y = labels(rng, m, dtype)
    J = functional.cost(AL, Y)
    assert isinstance(J, float), f"cost returned {type(J).__name__}, not float"
    assert_close(J, reference.cost(*f64(AL, Y)), RTOL[np.dtype(dtype)], "cost")


# ------------------------------------------------------------------ hypothesis sweep over shapes, layouts and values

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 24), n_prev=st.integers(1, 24), m=st.integers(1, 40),
    orders=st.tuples(*[st.sampled_from(ORDERS)] * 3),
    dtype=st.sampled_from(DTYPES),
    name=st.sampled_from(ACTIVATIONS),
    scale=st.sampled_from([0.1, 1.0, 3.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_operations_sweep(n, n_prev, m, orders, dtype, name, scale, seed):
    rng = np.random.RandomState(seed)
    order_W, order_A, order_dZ = orders
    A_prev = rand(rng, (n_prev, m), dtype, order_A, scale)
    W = rand(rng, (n, n_prev), dtype, order_W)
    b = rand(rng, (n, 1), dtype)
    dA = rand(rng, (n, m), dtype, order_dZ)

    check_linear_forward(functional.linear_forward(A_prev, W, b), A_prev, W, b, dtype)
    Z = np.asarray(reference.linear_forward(A_prev, W, b), dtype=dtype)  # same Z for both from here on
    if order_dZ == "F":
        Z = np.asfortranarray(Z)
    check(functional.activation_forward(Z, name), reference.activation_forward(*f64(Z), name), dtype, "A")
    dZ = functional.activation_backward(dA, Z, name)
    check_dZ(dZ, dA, Z, name, dtype)
    dZ = dZ if order_dZ == "C" else np.asfortranarray(dZ)
    check_linear_backward(functional.linear_backward(dZ, A_prev, W), dZ, A_prev, W, dtype)


# ------------------------------------------------------------------ whole network: forward, backward, update

NETWORKS = [([5, 7, 4, 1], 9), ([6, 3, 5, 2, 1], 13), ([3, 4, 2, 1], 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dims, m", NETWORKS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_network_forward_backward_update(hidden, dims, m, order, dtype):
    rtol = RTOL[np.dtype(dtype)]
    rng = np.random.RandomState(len(dims) * 100 + m + 1)
    L = len(dims) - 1
    activations = [hidden] * (L - 1) + ["sigmoid"]
    X = rand(rng, (dims[0], m), dtype, order)
    Y = labels(rng, m, dtype)
    params = [(rand(rng, (dims[l], dims[l - 1]), dtype, order, scale=1 / np.sqrt(dims[l - 1])),
               rand(rng, (dims[l], 1), dtype, scale=0.5)) for l in range(1, L + 1)]
    params64 = [tuple(f64(W, b)) for W, b in params]

    # forward: AL and every cache entry (A_prev, W, b, Z)
    AL, caches = functional.forward(X, params, activations)
    AL_ref, caches_ref = reference.forward(*f64(X), params64, activations)
    check(AL, AL_ref, dtype, "AL")
    assert len(caches) == L
    for l, (cache, cache_ref) in enumerate(zip(caches, caches_ref), start=1):
        assert len(cache) == 4, f"cache {l} should be (A_prev, W, b, Z)"
        for entry, entry_ref, what in zip(cache, cache_ref, ["A_prev", "W", "b", "Z"]):
            check(np.asarray(entry), entry_ref, dtype, f"cache {l} {what}")

    # backward from the same float32/float64 caches for both
    caches_in = [tuple(np.asarray(e) for e in cache) for cache in reference.forward(X, params, activations)[1]]
    AL_in = np.asarray(reference.forward(X, params, activations)[0], dtype=dtype)
    grads = functional.backward(AL_in, Y, caches_in, activations)
    grads_ref = reference.backward(*f64(AL_in, Y), [tuple(f64(*c)) for c in caches_in], activations)
    assert len(grads) == L
    for l, ((dW, db), (dW_ref, db_ref)) in enumerate(zip(grads, grads_ref), start=1):
        check(dW, dW_ref, dtype, f"dW{l}")
        check(db, db_ref, dtype, f"db{l}")
    assert np.max(np.abs(grads_ref[0][0])) > 1e-6  # the gradient reaches layer 1: not trivially zero

    # update
    grads_in = [(np.asarray(dW_ref, dtype=dtype), np.asarray(db_ref, dtype=dtype)) for dW_ref, db_ref in grads_ref]
    new = functional.update(params, grads_in, 0.05)
    new_ref = reference.update(params64, [tuple(f64(*g)) for g in grads_in], 0.05)
    assert len(new) == L
    for l, ((W, b), (W_ref, b_ref)) in enumerate(zip(new, new_ref), start=1):
        check(W, W_ref, dtype, f"W{l}")
        check(b, b_ref, dtype, f"b{l}")
    # update returns new arrays and leaves its inputs alone
    assert_params_close(params, params64, 0.0, "params after update")
