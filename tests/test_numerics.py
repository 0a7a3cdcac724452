"""Numerical edge cases: saturated units stay finite; a diverging fit stops with FloatingPointError naming the
iteration and keeps (bit for bit) the parameters of the last iteration whose cost was finite."""

import re

import numpy as np
import pytest

import nn
from nn import functional as F
from nn import reference
from helpers import assert_close

DTYPES = [np.float64, np.float32]
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]


def logit_cost(Z, Y):
    """The stable binary cross-entropy from logits, in float64: mean(max(z, 0) - y z + log1p(exp(-|z|)))."""
    Z = np.asarray(Z, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    return float(np.mean(np.maximum(Z, 0) - Y * Z + np.log1p(np.exp(-np.abs(Z)))))


# ------------------------------------------------------------------ saturated units

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", HIDDEN)
def test_saturated_activations_are_finite(dtype, name):
    Z = np.array([[-1e4, -1e3, -100.0, -30.0, 30.0, 100.0, 1e3, 1e4]], dtype=dtype)
    dA = np.ones_like(Z)
    A = F.activation_forward(Z, name)
    dZ = F.activation_backward(dA, Z, name)
    assert A.dtype == dtype and dZ.dtype == dtype
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(dZ)), (A, dZ)
    Z64 = Z.astype(np.float64)
    assert_close(A, reference.activation_forward(Z64, name), 1e-6 if dtype == np.float32 else 1e-15, "A")
    assert_close(dZ, reference.activation_backward(dA.astype(np.float64), Z64, name),
                 1e-6 if dtype == np.float32 else 1e-15, "dZ", scale=1.0)
    if name == "sigmoid":
        assert np.all((A >= 0) & (A <= 1))
        assert A[0, 0] == 0 or A[0, 0] < 1e-300 and A[0, -1] == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_saturates_to_exactly_one(dtype):
    # tanh rounds to +-1 from |z| ~ 9 (float32) and ~ 19 (float64) on; in float64 the core clamps its expm1
    # argument at |z| = 20 (float32 calls libmvec's tanhf), so values on both sides of that point, and of
    # |z| = 10 in float32, must be exactly NumPy's
    z = np.concatenate([np.linspace(8.5, 11.5, 61), np.linspace(18.5, 21.5, 61), [40.0, 100.0, 1e4, 1e30]])
    Z = np.concatenate([z, -z])[None, :].astype(dtype)
    A = F.activation_forward(Z, "tanh")
    expected = np.tanh(Z.astype(np.float64))
    # within a few ulps below the clamp (the expm1 formula or tanhf, vector_math.hpp) ...
    assert np.max(np.abs(A - expected)) <= 4 * np.finfo(dtype).eps / 2, np.max(np.abs(A - expected))
    # ... and exactly +-1 from it on, as tanh rounded to the dtype is
    saturated = np.abs(Z[0]) >= (10 if dtype == np.float32 else 20)
    assert np.all(expected[0, saturated].astype(dtype) == np.sign(Z[0, saturated]))
    np.testing.assert_array_equal(A[0, saturated], np.sign(Z[0, saturated]))


# The accuracy vector_math.hpp states for tanh, in whichever form this CPU runs: float64 within 4 ulp (the expm1
# form of baseline x86-64: 3.47 at most measured over 4M values against long double tanhl, since expm1's own error
# reaches the quotient up to twice over, and 3.34 on this test's values; the FMA form of AVX2 and AVX-512 CPUs:
# 2.6, and 3 stated; cpp/tests/test_tanh_forms.cpp checks each form), float32's tanhf within 2 ulp (1.4
# measured, 1.36 here).
TANH_ULPS = {np.float64: 4.0, np.float32: 2.0}


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="needs a long double wider than float64 for the exact values")
@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_is_within_the_stated_ulps_over_its_range(dtype):
    rng = np.random.default_rng(0)
    magnitude = 2.0 ** rng.uniform(-30, np.log2(20), 100_000)  # every binade from tiny |z| to the clamp
    Z = np.concatenate([magnitude, -magnitude, rng.uniform(-3, 3, 100_000)])[None, :].astype(dtype)
    A = F.activation_forward(Z, "tanh")
    exact = np.tanh(Z.astype(np.longdouble))
    ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    errors = np.abs(A.astype(np.longdouble) - exact) / ulp
    assert errors.max() <= TANH_ULPS[dtype], float(errors.max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_exactly_0_or_1_where_exp_would_be_subnormal(dtype):
    # e^-|z| is flushed to 0 from |z| = 87 (float32) / 708 (float64) on, where it is within 1.5 times the
    # smallest normal number (vector_math.hpp: forming subnormals costs microcode assists every iteration);
    # just inside that point sigmoid is still e^z to the dtype's precision
    limit = 87.0 if dtype == np.float32 else 708.0
    z = np.array([limit - 1, limit - 0.01, limit + 0.01, limit + 1, 2 * limit, 1e4])
    Z = np.concatenate([-z, z])[None, :].astype(dtype)
    A = F.activation_forward(Z, "sigmoid")
    inside = np.abs(Z[0].astype(np.float64)) < limit
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-Z[0].astype(np.float64)))
    np.testing.assert_allclose(A[0, inside], exact[inside], rtol=4 * np.finfo(dtype).eps)
    assert np.all(A[0, inside & (Z[0] < 0)] >= np.finfo(dtype).tiny)  # never subnormal
    np.testing.assert_array_equal(A[0, ~inside], (Z[0, ~inside] > 0).astype(dtype))
    # the same through a network: its probabilities, and a fit whose outputs are that confident stays finite
    net = nn.Network.from_params([(np.ones((1, 1)), np.zeros((1, 1)))], dtype=dtype)
    P = net.predict_proba(Z.reshape(1, -1))
    np.testing.assert_array_equal(P, A)
    Y = (Z > 0).astype(dtype)
    hist = net.fit(Z, Y, learning_rate=0.1, iterations=5, record_every=1)
    assert np.all(np.isfinite(hist.costs)) and hist.costs[-1] < 1e-3, hist.costs


@pytest.mark.parametrize("dtype", DTYPES)
def test_cost_of_saturated_but_correct_outputs_is_zero_not_nan(dtype):
    # AL exactly 0 or 1 where the label agrees: 0 log 0 must count as 0
    AL = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=dtype)
    Y = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=dtype)
    assert F.cost(AL, Y) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_gradients_finite_when_saturated(dtype):
    rng = np.random.RandomState(0)
    m = 8
    X = rng.randn(3, m).astype(dtype)
    # first layer pushes |z| to ~1e4, the output too
    W1 = (np.sign(rng.randn(4, 3)) * 3e3).astype(dtype)
    W2 = (np.sign(rng.randn(1, 4)) * 1.0).astype(dtype)
    params = [(W1, np.zeros((4, 1), dtype)), (W2, np.zeros((1, 1), dtype))]
    Y = (rng.rand(1, m) > 0.5).astype(dtype)
    for hidden in HIDDEN:
        acts = [hidden, "sigmoid"]
        AL, caches = F.forward(X, params, acts)
        assert np.max(np.abs(caches[0][3])) > 1e3
        grads = F.backward(AL, Y, caches, acts)
        for dW, db in grads:
            assert np.all(np.isfinite(dW)) and np.all(np.isfinite(db)), hidden
        new = F.update(params, grads, 0.01)
        assert all(np.all(np.isfinite(P)) for pair in new for P in pair)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("first_layer", ["primal", "gram"])
def test_network_cost_and_step_finite_when_saturated(dtype, hidden, first_layer):
    rng = np.random.RandomState(1)
    m = 10
    X = rng.randn(3, m)
    Y = (rng.rand(1, m) > 0.5).astype(np.float64)
    # the output logit is +-1e4 (times the hidden unit's value): wrong labels on half the examples
    W1 = rng.randn(2, 3) * 5e3
    W2 = np.array([[1.0, -1.0]])
    b2 = np.zeros((1, 1))
    if hidden in ("sigmoid", "tanh"):   # hidden units saturate at +-1 / 0..1: scale the output weights up
        W2 = W2 * 1e4
    net = nn.Network.from_params([(W1, np.zeros((2, 1))), (W2, b2)], hidden=hidden, dtype=dtype)
    p0 = [(W.astype(np.float64), b.astype(np.float64)) for W, b in net.params]
    Z2 = reference.forward(X.astype(dtype).astype(np.float64), p0, [hidden, "linear"])[0]
    assert np.max(np.abs(Z2)) > 1e3, "the test data must saturate the output"
    c = net.cost(X, Y)
    assert np.isfinite(c) and c > 0
    assert_close(c, logit_cost(Z2, Y), 1e-5 if dtype == np.float32 else 1e-12, "cost")
    hist = net.fit(X, Y, learning_rate=1e-6, iterations=3, record_every=1, first_layer=first_layer)
    assert np.all(np.isfinite(hist.costs)), hist.costs
    for W, b in net.params:
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
    # one step agrees with the reference's gradients (which are finite: dZ[L] = AL - Y, stable sigmoid')
    net2 = nn.Network.from_params(p0, hidden=hidden, dtype=dtype)
    net2.fit(X, Y, learning_rate=1e-6, iterations=1, first_layer=first_layer)
    AL, caches = reference.forward(X.astype(dtype).astype(np.float64), p0, [hidden, "sigmoid"])
    grads = reference.backward(AL, Y, caches, [hidden, "sigmoid"])
    assert all(np.all(np.isfinite(g)) for pair in grads for g in pair)
    expected = reference.update(p0, grads, 1e-6)
    for l, ((W, b), (We, be)) in enumerate(zip(net2.params, expected), start=1):
        # judged on the scale of the parameters (float32 flushes 1e-200 gradients to 0 where float64 does not)
        rtol = 1e-5 if dtype == np.float32 else 1e-10
        assert_close(W, We, rtol, f"W{l}", scale=1.0)
        assert_close(b, be, rtol, f"b{l}", scale=1.0)
    assert np.all(np.isfinite(net.predict_proba(X)))


# ------------------------------------------------------------------ divergence

def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(4, 20)
    Y = (rng.rand(1, 20) > 0.5).astype(np.float64)
    return X, Y


DIVERGING = [  # (dtype, hidden, learning rate): measured to blow up within a few iterations
    (np.float64, "linear", 1e8),
    (np.float64, "leaky_relu", 1e8),
    (np.float64, "linear", 1e20),
    (np.float64, "relu", 1e80),
    (np.float32, "linear", 1e8),
    (np.float32, "relu", 1e12),
    (np.float32, "leaky_relu", 1e20),
]


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("record_every", [1, 2, 100])
@pytest.mark.parametrize("dtype, hidden, lr", DIVERGING)
def test_divergence_keeps_the_last_finite_parameters(dtype, hidden, lr, record_every, first_layer):
    X, Y = _data()
    make = lambda: nn.Network([4, 5, 3, 1], hidden=hidden, seed=1, dtype=dtype)  # noqa: E731
    net = make()
    with pytest.raises(FloatingPointError, match=r"iteration \d+.*learning_rate") as info:
        net.fit(X, Y, learning_rate=lr, iterations=500, record_every=record_every, first_layer=first_layer)
    k = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    assert 1 <= k < 500
    kept = net.params
    for W, b in kept:
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
        assert W.dtype == dtype
    # a fresh network trained for k - 1 iterations the same way: exactly these parameters, a finite cost
    fresh = make()
    hist = fresh.fit(X, Y, learning_rate=lr, iterations=k - 1, record_every=record_every, first_layer=first_layer)
    assert np.isfinite(hist.costs[-1])
    for l, ((W, b), (Wf, bf)) in enumerate(zip(kept, fresh.params), start=1):
        np.testing.assert_array_equal(W, Wf, err_msg=f"W{l} differs from the parameters after {k - 1} iterations")
        np.testing.assert_array_equal(b, bf, err_msg=f"b{l} differs from the parameters after {k - 1} iterations")
    # ... and one more iteration from there is the one that diverges
    with pytest.raises(FloatingPointError, match=r"iteration 1\b|iteration 0\b"):
        fresh.fit(X, Y, learning_rate=lr, iterations=5, record_every=record_every, first_layer=first_layer)
    # the diverged network still works with its kept parameters
    assert np.all(np.isfinite(net.predict_proba(X)))
    assert np.isfinite(net.cost(X, Y))
    assert net.history_ is not None and np.all(np.isfinite(net.history_.costs))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("first_layer", ["primal", "gram"])
def test_divergence_on_the_first_iteration_leaves_parameters_unchanged(dtype, first_layer):
    # initial parameters whose forward pass overflows: nothing to keep but the parameters as they were
    big = 1e300 if dtype == np.float64 else 1e38
    W1 = np.full((2, 3), big)
    params = [(W1, np.zeros((2, 1))), (np.full((1, 2), big), np.zeros((1, 1)))]
    net = nn.Network.from_params(params, hidden="linear", dtype=dtype)
    before = net.params
    X = np.full((3, 4), 10.0)
    with pytest.raises(FloatingPointError, match=r"iteration 0"):
        net.fit(X, np.array([[0, 1, 0, 1.0]]), learning_rate=0.1, iterations=10, first_layer=first_layer)
    for (W, b), (W0, b0) in zip(net.params, before):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
def test_divergence_does_not_call_the_callback_with_a_non_finite_cost(first_layer):
    X, Y = _data()
    seen = []
    net = nn.Network([4, 5, 3, 1], hidden="linear", seed=1)
    with pytest.raises(FloatingPointError):
        net.fit(X, Y, learning_rate=1e20, iterations=100, record_every=1, first_layer=first_layer,
                callback=lambda i, c: seen.append(c))
    assert seen and all(np.isfinite(seen))


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("dtype, hidden, lr", DIVERGING)
def test_divergence_on_the_last_iteration_is_detected(dtype, hidden, lr, first_layer):
    # the cost after the final step is computed too: if it is not finite, fit must not return normally
    X, Y = _data()
    make = lambda: nn.Network([4, 5, 3, 1], hidden=hidden, seed=1, dtype=dtype)  # noqa: E731
    with pytest.raises(FloatingPointError) as info:
        make().fit(X, Y, learning_rate=lr, iterations=500, record_every=7, first_layer=first_layer)
    k = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    net = make()
    with pytest.raises(FloatingPointError, match=rf"iteration {k}\b"):
        net.fit(X, Y, learning_rate=lr, iterations=k, record_every=7, first_layer=first_layer)
    fresh = make()
    fresh.fit(X, Y, learning_rate=lr, iterations=k - 1, record_every=7, first_layer=first_layer)
    for (W, b), (Wf, bf) in zip(net.params, fresh.params):
        np.testing.assert_array_equal(W, Wf)
        np.testing.assert_array_equal(b, bf)


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("iterations", [0, 1, 3])
def test_float32_learning_rate_that_overflows_is_not_silently_inf(first_layer, iterations):
    # 1e100 is a finite float but overflows float32: either refuse it up front (ValueError naming
    # learning_rate) or treat it as divergence (FloatingPointError); never train with an infinite step,
    # and never leave NaN/inf parameters or a NaN cost behind (with 0 iterations the Gram path must not form
    # W1 = W1_0 - (inf/m) * 0 = NaN)
    X, Y = _data()
    net = nn.Network([4, 3, 1], hidden="sigmoid", seed=0, dtype=np.float32)
    try:
        hist = net.fit(X, Y, learning_rate=1e100, iterations=iterations, first_layer=first_layer)
    except (ValueError, FloatingPointError) as e:
        assert "learning_rate" in str(e)
    else:
        assert np.all(np.isfinite(hist.costs)), hist.costs
    for W, b in net.params:
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
    assert np.isfinite(net.cost(X, Y))
