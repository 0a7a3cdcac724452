"""A first layer of one unit (logistic regression) or a few streamed: one pass over X per iteration forms dW[1],
W[1]'s step and the next W[1] X together (cpp/include/nn/streamed_first_layer.hpp). It must train exactly like
the reference up to rounding, and fall back to the ordinary loop where it does not apply.
"""
import re

import numpy as np
import pytest

import nn
from nn import _core, reference

from helpers import assert_close, assert_params_close, assert_concurrent_fits_match_alone, assert_params_equal

ITERATIONS = 30

# several units need the AVX-512 kernel; elsewhere they train on the ordinary loop (tested by the fallbacks)
needs_units = pytest.mark.skipif(not _core.streamed_units_supported(), reason="no AVX-512: units are not streamed")
UNITS = pytest.param([301, 20, 7, 1], marks=needs_units)


def make_data(n_x=301, m=500, dtype=np.float64, order="C", seed=3):
    # n_x = 301: the rows split unevenly between threads and end in a group of fewer than four
    rng = np.random.RandomState(seed)
    X = rng.randn(n_x, m)
    Y = (rng.randn(1, n_x) @ X > 0).astype(np.float64)
    return np.asarray(X.astype(dtype), order=order), Y.astype(dtype)


def fit_and_reference(dims, hidden, X, Y, lr, dtype=np.float64, iterations=ITERATIONS, first_layer="primal"):
    net = nn.Network(dims, hidden=hidden, init="xavier", seed=4, dtype=dtype)
    start = [(W.astype(np.float64), b.astype(np.float64)) for W, b in net.params]
    acts = [hidden] * (len(dims) - 2) + ["sigmoid"]
    ref_params, _, ref_costs = reference.train(X.astype(np.float64), Y.astype(np.float64), start, acts, lr,
                                               iterations, record_every=1)
    hist = net.fit(X, Y, learning_rate=lr, iterations=iterations, record_every=1, first_layer=first_layer)
    return net, hist, ref_params, ref_costs


@pytest.mark.parametrize("dims, hidden", [
    ([301, 1], "relu"), ([301, 1, 3, 1], "tanh"), ([301, 1, 2, 1], "relu"),
    # units in one to four vectors of float64 (8 per vector), every activation
    pytest.param([301, 5, 1], "tanh", marks=needs_units),
    pytest.param([301, 20, 7, 1], "relu", marks=needs_units),
    pytest.param([301, 17, 3, 1], "leaky_relu", marks=needs_units),
    pytest.param([301, 32, 1], "sigmoid", marks=needs_units),
])
def test_streamed_fit_matches_reference_float64(dims, hidden):
    X, Y = make_data()
    net, hist, ref_params, ref_costs = fit_and_reference(dims, hidden, X, Y, 0.05)
    assert net.train_settings_["streamed_first_layer"] is True
    assert_close(hist.costs, ref_costs, 1e-12, "costs")
    assert_params_close(net.params, ref_params, 1e-12, "params after a streamed fit")


# float32's units past one vector (16) share a vector between 4, 2, 8 and 16 rows of X for 20, 24, 18 and 17
# units; 32 units fill two vectors
@pytest.mark.parametrize("dims", [[301, 1], UNITS, pytest.param([301, 32, 1], marks=needs_units)] + [
    pytest.param([301, n1, 1], marks=needs_units) for n1 in (24, 18, 17)])
def test_streamed_fit_matches_reference_float32(dims):
    X, Y = make_data(dtype=np.float32)
    net, hist, ref_params, ref_costs = fit_and_reference(dims, "relu", X, Y, 0.05, np.float32)
    assert net.train_settings_["streamed_first_layer"] is True
    # float32 against the float64 oracle: dot products of 500 terms, 30 steps (as test_network_parity)
    assert_close(hist.costs, ref_costs, 1e-5, "costs")
    assert_params_close(net.params, ref_params, 1e-5, "params after a streamed float32 fit")


# A layer of units streams while one thread's part of Z (20 x m here) fits streamed_units_max_part_bytes, 3 MiB:
# 20 x 19660 doubles is 3,145,600 bytes, one example more is past it; floats take twice the examples.
@needs_units
@pytest.mark.parametrize("dtype, m, streamed", [(np.float64, 19660, True), (np.float64, 19661, False),
                                                (np.float32, 39321, True), (np.float32, 39322, False)])
def test_units_stream_while_a_threads_part_of_z_fits_in_3_mib(dtype, m, streamed):
    X, Y = make_data(m=m, dtype=dtype)
    net, hist, ref_params, ref_costs = fit_and_reference([301, 20, 1], "relu", X, Y, 0.05, dtype, iterations=3)
    assert net.train_settings_["streamed_first_layer"] is streamed
    # float32 as in test_streamed_fit_matches_reference_float32; measured 0.8-2.3e-7 here (two seeds)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(hist.costs, ref_costs, tol, "costs")
    assert_params_close(net.params, ref_params, tol, "params")


@pytest.mark.parametrize("dims", [[301, 1], UNITS])
def test_one_thread_and_two_agree(dims, blas_threads):
    X, Y = make_data()
    start = nn.Network(dims, seed=5).params
    results = []
    for n in (1, 2):
        blas_threads(n)
        net = nn.Network.from_params(start)
        net.fit(X, Y, learning_rate=0.05, iterations=ITERATIONS, first_layer="primal")
        assert net.train_settings_["streamed_first_layer"] is True
        assert _core.blas_get_num_threads() == n   # given back after the fit
        results.append(net.params)
    assert_params_close(results[1], results[0], 1e-14, "two threads against one")


@pytest.mark.parametrize("case", ["F-ordered X", "F-ordered X, units", "too many units", "layer 1 not most of the work",
                                  "gram", "small X", "many examples", "many examples for its units"])
def test_falls_back_where_it_does_not_apply(case):
    dims, m, order, first_layer = [301, 1], 500, "C", "primal"
    if case == "F-ordered X":
        order = "F"
    elif case == "F-ordered X, units":
        dims, order = [301, 20, 1], "F"
    elif case == "too many units":
        dims = [301, 33, 1]
    elif case == "layer 1 not most of the work":
        dims = [301, 4, 64, 1]    # layer 1: 71% of the flops of an iteration (the rest would run on one thread)
    elif case == "gram":
        dims, m, first_layer = [301, 1], 200, "gram"
    elif case == "small X":
        dims, m = [70, 1], 100
    elif case == "many examples":
        dims, m = [64, 1], 70000   # a thread's part of Z would no longer stay in cache
    elif case == "many examples for its units":
        dims, m = [301, 20, 1], 20000  # 20 x 20000 doubles > 3 MiB
    X, Y = make_data(dims[0], m, order=order)
    net, hist, ref_params, ref_costs = fit_and_reference(dims, "relu", X, Y, 0.05, iterations=3,
                                                         first_layer=first_layer)
    assert net.train_settings_["first_layer"] == first_layer
    assert net.train_settings_["streamed_first_layer"] is False
    assert_close(hist.costs, ref_costs, 1e-12, "costs")
    assert_params_close(net.params, ref_params, 1e-12, "params")


@pytest.mark.parametrize("dims", [[301, 1, 2, 1], pytest.param([301, 6, 2, 1], marks=needs_units)])
def test_divergence_in_a_streamed_fit_keeps_the_last_finite_parameters(dims):
    X, Y = make_data()
    make = lambda: nn.Network(dims, hidden="linear", seed=5)  # noqa: E731
    net = make()
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, learning_rate=1e5, iterations=200, record_every=1, first_layer="primal")
    assert net.train_settings_["streamed_first_layer"] is True
    k = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    assert 2 <= k < 200, str(info.value)
    fresh = make()
    fresh.fit(X, Y, learning_rate=1e5, iterations=k - 1, record_every=1, first_layer="primal")
    assert_params_equal(net.params, fresh.params, "kept against a fresh fit")
    assert np.isfinite(net.cost(X, Y))


@pytest.mark.parametrize("dims", [[301, 1], UNITS])
def test_concurrent_streamed_fits(dims, blas_threads):
    blas_threads(2)
    X, Y = make_data()
    start = nn.Network(dims, seed=6).params
    nets = [nn.Network.from_params(start) for _ in range(3)]
    assert_concurrent_fits_match_alone(nets, lambda net: net.fit(X, Y, learning_rate=0.05, iterations=ITERATIONS))
    assert _core.blas_get_num_threads() == 2
    assert all(net.train_settings_["streamed_first_layer"] for net in nets)
