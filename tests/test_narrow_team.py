"""Networks of narrow layers (planar's [2, 4, 1]: at most 8 units over at most 8 inputs) on a team of threads:
see Network::train_narrow_team in cpp/include/nn/network.hpp.

Such a network trains with its examples split between the threads OpenBLAS may use, meeting once per
iteration, when each thread gets enough examples and work. These tests check when the team is used
(train_settings_["example_slices"]) and that it changes nothing beyond rounding: against nn.reference at every
iteration, against the same fit on one thread, in a divergence, and across calls of fit.
"""

import numpy as np
import pytest

import nn
from nn import _core, reference

from helpers import (assert_close, assert_divergence_keeps_the_last_finite_parameters,
                     assert_float32_fit_matches_reference, assert_params_close, assert_params_equal,
                     fits_on_two_threads_and_one)

PLANAR = [2, 4, 1]
HIDDEN = ["relu", "tanh", "sigmoid", "leaky_relu", "linear"]

needs_team = pytest.mark.skipif(_core.blas_get_num_threads() < 2 or not _core.narrow_layers_supported(),
                                reason="the narrow team needs two threads and the narrow layers (AVX2 or AVX-512)")


def make_data(n_x=2, m=400, dtype=np.float64, seed=7):
    # labels from a linear rule with noise: never separable, so no output saturates (nn.reference's cost is
    # the course's log(A), which gives NaN at A = 1)
    rng = np.random.RandomState(seed)
    X = rng.randn(n_x, m)
    Y = (rng.randn(1, n_x) @ X + rng.randn(1, m) > 0).astype(np.float64)
    return X.astype(dtype), Y.astype(dtype)


def acts(dims, hidden):
    return [hidden] * (len(dims) - 2) + ["sigmoid"]


@needs_team
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("dims, m", [(PLANAR, 1000), ([3, 5, 3, 1], 1001)])
def test_team_fit_matches_reference_float64(dims, m, hidden, blas_threads):
    blas_threads(2)
    X, Y = make_data(dims[0], m)
    net = nn.Network(dims, hidden=hidden, init="xavier", seed=3)
    iterations = 300
    ref_params, _, ref_costs = reference.train(X, Y, net.params, acts(dims, hidden), 0.5, iterations,
                                               record_every=1)
    hist = net.fit(X, Y, learning_rate=0.5, iterations=iterations, record_every=1)
    assert net.train_settings_["example_slices"] == 2
    assert_close(hist.costs, ref_costs, 1e-12, "costs at every iteration")
    assert_params_close(net.params, ref_params, 1e-12, f"params after {iterations} iterations on a team")


@needs_team
@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_team_fit_matches_reference_float32(hidden, blas_threads):
    blas_threads(2)
    X, Y = make_data(m=2000, dtype=np.float32)
    net = nn.Network(PLANAR, hidden=hidden, init="xavier", seed=3, dtype=np.float32)
    settings = assert_float32_fit_matches_reference(net, X, Y, acts(PLANAR, hidden), 0.5, 100, "float32 on a team")
    assert settings["example_slices"] == 2


@needs_team
def test_team_and_single_thread_fits_agree(blas_threads):
    X, Y = make_data()
    start = nn.Network(PLANAR, hidden="tanh", init="xavier", seed=4).params
    team, single = fits_on_two_threads_and_one(blas_threads, start, "tanh", X, Y, 1.2, 2000)
    assert (team.train_settings_["example_slices"], single.train_settings_["example_slices"]) == (2, 1)
    # the same sums in another order: rounding only, and it does not grow at a stable rate
    assert_params_close(team.params, single.params, 1e-12, "team against one thread")


@needs_team
def test_fits_continue_exactly_where_the_last_stopped(blas_threads):
    # ten calls of 30 iterations give the parameters of one call of 300, bit for bit (each call starts a team)
    blas_threads(2)
    X, Y = make_data()
    start = nn.Network(PLANAR, hidden="tanh", seed=5).params
    once = nn.Network.from_params(start, hidden="tanh")
    once.fit(X, Y, learning_rate=1.2, iterations=300, record_every=300)
    pieces = nn.Network.from_params(start, hidden="tanh")
    hist = pieces.fit(X, Y, learning_rate=1.2, iterations=300, record_every=30)
    assert pieces.train_settings_["example_slices"] == 2
    assert_params_equal(pieces.params, once.params, "300 iterations in 10 calls against 1")
    assert hist.costs[-1] == pytest.approx(once.cost(X, Y), rel=1e-12)


@needs_team
@pytest.mark.parametrize("hidden, dtype, m, team", [
    # 16 KiB of work a thread, a value counting three times where it goes through tanh or sigmoid: an example
    # of [2, 4, 1] tanh is 15 values' worth, of relu 7
    ("tanh", np.float64, 400, 2),     # planar
    ("tanh", np.float64, 273, 1),
    ("tanh", np.float64, 274, 2),
    ("tanh", np.float32, 400, 1),     # float: twice the examples for the same bytes
    ("tanh", np.float32, 547, 2),
    ("relu", np.float64, 585, 1),
    ("relu", np.float64, 586, 2),
])
def test_team_needs_enough_work_per_thread(hidden, dtype, m, team, blas_threads):
    blas_threads(2)
    X, Y = make_data(m=m, dtype=dtype)
    net = nn.Network(PLANAR, hidden=hidden, seed=0, dtype=dtype)
    net.fit(X, Y, learning_rate=0.1, iterations=2)
    assert net.train_settings_["example_slices"] == team


@needs_team
def test_no_team_on_one_thread_in_gram_space_or_for_wide_layers(blas_threads):
    X, Y = make_data(m=4000)
    blas_threads(1)
    net = nn.Network(PLANAR, hidden="tanh", seed=0)
    net.fit(X, Y, learning_rate=0.1, iterations=2)
    assert net.train_settings_["example_slices"] == 1
    blas_threads(2)
    wide = nn.Network([2, 9, 1], hidden="tanh", seed=0)  # 9 units: not a narrow layer
    wide.fit(X, Y, learning_rate=0.1, iterations=2)
    assert wide.train_settings_["example_slices"] == 1
    Xg, Yg = make_data(n_x=8, m=4)  # fewer examples than features: Gram space
    gram = nn.Network([8, 2, 1], hidden="tanh", seed=0)
    gram.fit(Xg, Yg, learning_rate=0.1, iterations=2, first_layer="gram")
    assert gram.train_settings_["example_slices"] == 1


@needs_team
def test_divergence_on_a_team_keeps_the_last_finite_parameters(blas_threads):
    # linear hidden units and a huge rate: the weights grow by about the rate each step until the cost
    # overflows; the team learns of it one backward pass late, and must still keep the last finite parameters
    blas_threads(2)
    X, Y = make_data(m=1000)
    make = lambda: nn.Network(PLANAR, hidden="linear", init="xavier", seed=5)  # noqa: E731
    net, message = assert_divergence_keeps_the_last_finite_parameters(make, X, Y, 1e80, record_every=200)
    assert net.train_settings_["example_slices"] == 2
    # and one thread diverges at the same iteration
    blas_threads(1)
    single = make()
    with pytest.raises(FloatingPointError) as info_single:
        single.fit(X, Y, learning_rate=1e80, iterations=200, record_every=200)
    assert str(info_single.value) == message
