"""nn.Network against nn.reference: whole training runs, recording, prediction, construction."""

import numpy as np
import pytest

import nn
from nn import reference
from helpers import assert_close, assert_params_close

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
DIMS = [8, 6, 4, 1]
LEARNING_RATE = 0.1     # every hidden activation descends steadily here on the data below (asserted)
ITERATIONS = 200
RECORD_EVERY = 10


def make_data(seed=0, n_x=8, m=64, dtype=np.float64):
    """X randn(n_x, m); Y from a random linear rule plus noise, so it is learnable but not trivially."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_x, m)
    w = rng.randn(1, n_x)
    Y = ((w @ X + 0.5 * rng.randn(1, m)) > 0).astype(np.float64)
    assert 0 < Y.sum() < m
    return X.astype(dtype), Y.astype(dtype)


def acts(hidden, L=len(DIMS) - 1):
    return [hidden] * (L - 1) + ["sigmoid"]


def as64(params):
    return [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in params]


# ------------------------------------------------------------------ whole training runs

@pytest.mark.parametrize("hidden", HIDDEN)
def test_fit_matches_reference_float64(hidden):
    X, Y = make_data()
    net = nn.Network(DIMS, hidden=hidden, init="xavier", seed=2)
    params0 = net.params
    assert_params_close(params0, reference.initialize_parameters(DIMS, "xavier", seed=2), 0.0, "initial params")

    # the reference, recording every iteration, documents the regime: the cost falls at every step
    ref_params, ref_iterations, ref_costs = reference.train(X, Y, params0, acts(hidden), LEARNING_RATE,
                                                            ITERATIONS, record_every=1)
    assert np.all(np.diff(ref_costs) < 0), f"reference cost not strictly decreasing for {hidden}"
    assert ref_costs[-1] < 0.95 * ref_costs[0]

    hist = net.fit(X, Y, learning_rate=LEARNING_RATE, iterations=ITERATIONS, record_every=RECORD_EVERY)
    expected_iterations = list(range(0, ITERATIONS, RECORD_EVERY)) + [ITERATIONS]
    assert list(hist.iterations) == expected_iterations
    expected_costs = ref_costs[expected_iterations]   # ref recorded every iteration, incl. the final one
    assert len(hist.costs) == len(expected_costs)
    for i, c, c_ref in zip(expected_iterations, hist.costs, expected_costs):
        assert_close(c, c_ref, 1e-10, f"cost at iteration {i}")
    assert_params_close(net.params, ref_params, 1e-10, "final params")
    assert_close(net.predict_proba(X), reference.forward(X, ref_params, acts(hidden))[0], 1e-10,
                 "predict_proba after fit")


@pytest.mark.parametrize("hidden", HIDDEN)
def test_fit_matches_reference_float32(hidden):
    """float32 network vs the float64 reference started from the same float32-rounded parameters and data."""
    X, Y = make_data(dtype=np.float32)
    net = nn.Network(DIMS, hidden=hidden, init="xavier", seed=2, dtype=np.float32)
    assert net.dtype == np.float32
    params0 = net.params
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in params0)
    assert_params_close(params0, reference.initialize_parameters(DIMS, "xavier", seed=2), 1e-7, "initial params")

    ref_params, ref_iterations, ref_costs = reference.train(X.astype(np.float64), Y.astype(np.float64),
                                                            as64(params0), acts(hidden), LEARNING_RATE,
                                                            ITERATIONS, record_every=RECORD_EVERY)
    assert np.all(np.diff(ref_costs) < 0)
    hist = net.fit(X, Y, learning_rate=LEARNING_RATE, iterations=ITERATIONS, record_every=RECORD_EVERY)
    assert np.array_equal(hist.iterations, ref_iterations)
    for i, c, c_ref in zip(ref_iterations, hist.costs, ref_costs):
        assert_close(c, c_ref, 1e-4, f"cost at iteration {i}")
    params = net.params
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in params)
    assert_params_close(params, ref_params, 1e-4, "final params")


# ------------------------------------------------------------------ recording

@pytest.mark.parametrize("iterations, record_every, expected", [
    (10, 3, [0, 3, 6, 9, 10]),
    (10, 5, [0, 5, 10]),
    (7, 1, [0, 1, 2, 3, 4, 5, 6, 7]),
    (1, 100, [0, 1]),
    (250, 100, [0, 100, 200, 250]),
])
def test_record_every(iterations, record_every, expected):
    X, Y = make_data(seed=1)
    net = nn.Network(DIMS, hidden="tanh", seed=4)
    params0 = net.params
    hist = net.fit(X, Y, learning_rate=0.05, iterations=iterations, record_every=record_every)
    _, ref_iterations, ref_costs = reference.train(X, Y, params0, acts("tanh"), 0.05, iterations, record_every)
    assert list(ref_iterations) == expected
    assert np.issubdtype(np.asarray(hist.iterations).dtype, np.integer)
    assert np.array_equal(hist.iterations, ref_iterations)
    assert_close(hist.costs, ref_costs, 1e-10, "recorded costs")


def test_record_every_default_is_100():
    X, Y = make_data(seed=1)
    net = nn.Network(DIMS, seed=4)
    hist = net.fit(X, Y, learning_rate=0.05, iterations=250)
    assert list(hist.iterations) == [0, 100, 200, 250]


# ------------------------------------------------------------------ prediction and cost

def centred_params(hidden, X, seed):
    """Xavier weights, random hidden biases, and the output bias set to minus the median output Z,
    so that about half the examples fall on each side of the 0.5 threshold (for every activation)."""
    rng = np.random.RandomState(seed)
    params = [(W, 0.3 * rng.randn(*b.shape)) for W, b in reference.initialize_parameters(DIMS, "xavier", seed)]
    W_L, _ = params[-1]
    params[-1] = (W_L, np.zeros((1, 1)))
    _, caches = reference.forward(X, params, acts(hidden))
    params[-1] = (W_L, -np.median(caches[-1][3], axis=1, keepdims=True))
    return params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_predict_proba_predict_cost(hidden, dtype):
    X, Y = make_data(seed=3)
    net = nn.Network.from_params(centred_params(hidden, X, seed=5), hidden=hidden, dtype=dtype)
    X, Y = X.astype(dtype), Y.astype(dtype)
    params = as64(net.params)
    AL_ref, _ = reference.forward(X.astype(np.float64), params, acts(hidden))
    rtol = 1e-12 if dtype == np.float64 else 1e-5

    proba = net.predict_proba(X)
    assert proba.shape == (1, X.shape[1])
    assert_close(proba, AL_ref, rtol, "predict_proba")

    pred = net.predict(X)
    assert pred.shape == (1, X.shape[1])
    assert set(np.unique(pred)) <= {0, 1}
    assert np.array_equal(pred, (proba > 0.5).astype(pred.dtype))
    assert 0 < pred.sum() < pred.size, "both classes predicted, so the threshold is exercised"

    assert_close(net.cost(X, Y), reference.cost(AL_ref, Y.astype(np.float64)), rtol, "cost(X, Y)")


def test_predict_threshold_is_strict():
    """A probability of exactly 0.5 (all-zero parameters) predicts 0."""
    net = nn.Network([3, 1], init="zeros")
    X = np.random.RandomState(0).randn(3, 5)
    assert_close(net.predict_proba(X), np.full((1, 5), 0.5), 0.0, "predict_proba")
    assert np.array_equal(net.predict(X), np.zeros((1, 5)))


# ------------------------------------------------------------------ construction

@pytest.mark.parametrize("init", ["small", "xavier", "he", "zeros"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initialisation_matches_reference(init, dtype):
    dims = [7, 5, 3, 1]
    params = nn.Network(dims, init=init, seed=11, dtype=dtype).params
    expected = reference.initialize_parameters(dims, init=init, seed=11, dtype=dtype)
    assert [W.shape for W, _ in params] == [(5, 7), (3, 5), (1, 3)]
    assert [b.shape for _, b in params] == [(5, 1), (3, 1), (1, 1)]
    assert all(W.dtype == dtype and b.dtype == dtype for W, b in params)
    assert_params_close(params, expected, 0.0 if dtype == np.float64 else 1.2e-7, f"{init} init")
    if init != "zeros":
        assert np.std(params[0][0]) > 0


def test_same_seed_same_params_different_seed_different():
    a = nn.Network(DIMS, seed=123).params
    b = nn.Network(DIMS, seed=123).params
    c = nn.Network(DIMS, seed=124).params
    for (Wa, ba), (Wb, bb) in zip(a, b):
        assert np.array_equal(Wa, Wb) and np.array_equal(ba, bb)
    assert not np.array_equal(a[0][0], c[0][0])


def test_attributes():
    net = nn.Network(DIMS, hidden="tanh")
    assert list(net.layer_dims) == DIMS
    assert net.activations == ("tanh", "tanh", "sigmoid")
    assert net.dtype == np.float64
    net = nn.Network([4, 3, 2, 1], activations=["relu", "tanh", "sigmoid"], dtype=np.float32)
    assert net.activations == ("relu", "tanh", "sigmoid")
    assert net.dtype == np.float32


def test_explicit_activations_train_like_reference():
    X, Y = make_data(seed=6)
    activations = ["tanh", "leaky_relu", "sigmoid"]
    net = nn.Network(DIMS, activations=activations, seed=7)
    params0 = net.params
    hist = net.fit(X, Y, learning_rate=LEARNING_RATE, iterations=60, record_every=20)
    ref_params, _, ref_costs = reference.train(X, Y, params0, activations, LEARNING_RATE, 60, 20)
    assert_close(hist.costs, ref_costs, 1e-10, "costs")
    assert_params_close(net.params, ref_params, 1e-10)


def test_params_are_copies():
    net = nn.Network(DIMS, seed=1)
    params = net.params
    W1_before = params[0][0].copy()
    params[0][0][...] = 0.0
    params[0][1][...] = 5.0
    assert np.array_equal(net.params[0][0], W1_before)
    assert not np.any(net.params[0][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
def test_from_params_round_trip(hidden, dtype):
    rng = np.random.RandomState(8)
    params = [(rng.randn(5, 8).astype(dtype), rng.randn(5, 1).astype(dtype)),
              (rng.randn(3, 5).astype(dtype), rng.randn(3, 1).astype(dtype)),
              (rng.randn(1, 3).astype(dtype), rng.randn(1, 1).astype(dtype))]
    net = nn.Network.from_params(params, hidden=hidden)
    assert list(net.layer_dims) == [8, 5, 3, 1]
    assert net.activations == (hidden, hidden, "sigmoid")
    assert net.dtype == dtype
    for (W, b), (W0, b0) in zip(net.params, params):
        assert W.dtype == dtype and np.array_equal(W, W0) and np.array_equal(b, b0)

    X = rng.randn(8, 20).astype(dtype)
    AL_ref, _ = reference.forward(X.astype(np.float64), as64(params), acts(hidden))
    assert_close(net.predict_proba(X), AL_ref, 1e-12 if dtype == np.float64 else 1e-5, "predict_proba")

    # and back: a network rebuilt from its own params behaves identically
    again = nn.Network.from_params(net.params, activations=net.activations)
    assert again.activations == net.activations
    assert np.array_equal(again.predict_proba(X), net.predict_proba(X))


def test_from_params_dtype_argument():
    params = reference.initialize_parameters([4, 3, 1], seed=0)
    net = nn.Network.from_params(params, dtype=np.float32)
    assert net.dtype == np.float32
    assert all(W.dtype == np.float32 for W, _ in net.params)
    assert_params_close(net.params, params, 1.2e-7)


# ------------------------------------------------------------------ logistic regression (no hidden layer)

@pytest.mark.parametrize("init", ["zeros", "xavier"])
def test_logistic_regression(init):
    X, Y = make_data(seed=9, n_x=5, m=40)
    net = nn.Network([5, 1], init=init, seed=0)
    assert net.activations == ("sigmoid",)
    params0 = net.params
    hist = net.fit(X, Y, learning_rate=0.5, iterations=150, record_every=25)
    ref_params, ref_iterations, ref_costs = reference.train(X, Y, params0, ["sigmoid"], 0.5, 150, 25)
    assert np.all(np.diff(ref_costs) < 0)
    assert np.array_equal(hist.iterations, ref_iterations)
    assert_close(hist.costs, ref_costs, 1e-10, "costs")
    assert_params_close(net.params, ref_params, 1e-10)


def test_primal_first_layer_with_many_features_and_few_examples():
    # (16 x 4096) (4096 x 64): the shape whose first-layer product the core splits along K over two BLAS threads
    # (cpp/include/nn/blas.hpp, worth_splitting_k); it must give the reference's numbers like any other.
    rng = np.random.RandomState(5)
    X = rng.randn(4096, 64)
    Y = (rng.randn(1, 4096) @ X > 0).astype(np.float64)
    net = nn.Network([4096, 16, 4, 1], hidden="tanh", seed=2)
    start = net.params
    hist = net.fit(X, Y, learning_rate=0.05, iterations=50, record_every=10, first_layer="primal")
    params, iterations, costs = reference.train(X, Y, start, ["tanh", "tanh", "sigmoid"], 0.05, 50, 10)
    assert np.all(np.diff(costs) < 0)
    np.testing.assert_array_equal(hist.iterations, iterations)
    assert_close(hist.costs, np.array(costs), 1e-10, "costs")
    for l, ((W, b), (W_ref, b_ref)) in enumerate(zip(net.params, params), start=1):
        assert_close(W, W_ref, 1e-10, f"W{l}")
        assert_close(b, b_ref, 1e-10, f"b{l}")
