"""The training loop split across threads by columns (examples): see cpp/include/nn/parallel.hpp.

A network big enough for it trains with its m examples divided between the threads OpenBLAS may use; each
thread takes its columns through forward and dA, and the threads share dW. These tests check that the split
really happens (train_settings_["example_slices"]) and that it changes nothing beyond rounding: against
nn.reference, and against the same fit on one thread.
"""

import numpy as np
import pytest

import nn
from nn import _core, reference

from helpers import (assert_close, assert_concurrent_fits_match_alone,
                     assert_divergence_keeps_the_last_finite_parameters, assert_float32_fit_matches_reference,
                     assert_params_close, fits_on_two_threads_and_one)

# (4 n1 n0 + 6 (n2 n1 + n3 n2)) m = (4*48*512 + 6 (512*96 + 96)) 1003 ~ 4e8 flops per iteration: well above the
# threshold (2^26), and layer 1 has more rows than columns (dW split by rows) while layers 2 and 3 have fewer
# (dW split by columns). m = 1003 is no multiple of 8, so the slices are uneven.
DIMS = [48, 512, 96, 1]
M = 1003
ITERATIONS = 12
HIDDEN = ["relu", "tanh", "sigmoid", "leaky_relu"]

needs_two_threads = pytest.mark.skipif(_core.blas_get_num_threads() < 2,
                                       reason="the split needs OpenBLAS to allow two threads")


def make_data(dtype=np.float64, order="C", m=M):
    rng = np.random.RandomState(7)
    X = rng.randn(DIMS[0], m)
    Y = (rng.randn(1, DIMS[0]) @ X > 0).astype(np.float64)
    return np.asarray(X.astype(dtype), order=order), Y.astype(dtype)


def acts(hidden):
    return [hidden] * (len(DIMS) - 2) + ["sigmoid"]


@needs_two_threads
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_split_fit_matches_reference_float64(hidden, order):
    X, Y = make_data(order=order)
    net = nn.Network(DIMS, hidden=hidden, init="xavier", seed=3)
    ref_params, ref_iterations, ref_costs = reference.train(X, Y, net.params, acts(hidden), 0.05, ITERATIONS,
                                                            record_every=1)
    hist = net.fit(X, Y, learning_rate=0.05, iterations=ITERATIONS, record_every=1)
    assert net.train_settings_["example_slices"] == 2
    for i, c, c_ref in zip(hist.iterations, hist.costs, ref_costs):
        assert_close(c, c_ref, 1e-12, f"cost at iteration {i}")
    assert_params_close(net.params, ref_params, 1e-12, "params after a split fit")


@needs_two_threads
@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_split_fit_matches_reference_float32(hidden):
    X, Y = make_data(np.float32)
    net = nn.Network(DIMS, hidden=hidden, init="xavier", seed=3, dtype=np.float32)
    settings = assert_float32_fit_matches_reference(net, X, Y, acts(hidden), 0.05, ITERATIONS, "a split float32 fit")
    assert settings["example_slices"] == 2


@needs_two_threads
def test_split_and_single_thread_fits_agree(blas_threads):
    X, Y = make_data()
    start = nn.Network(DIMS, hidden="tanh", init="xavier", seed=4).params
    split, single = fits_on_two_threads_and_one(blas_threads, start, "tanh", X, Y, 0.05, ITERATIONS)
    assert (split.train_settings_["example_slices"], single.train_settings_["example_slices"]) == (2, 1)
    # the same sums in another order: rounding only
    assert_params_close(split.params, single.params, 1e-13, "split against one thread")


@needs_two_threads
def test_blas_thread_count_is_given_back(blas_threads):
    X, Y = make_data()
    net = nn.Network(DIMS, hidden="relu", seed=0)
    for n in (2, 1, 2):
        blas_threads(n)
        net.fit(X, Y, learning_rate=0.05, iterations=3)
        assert _core.blas_get_num_threads() == n
        assert net.train_settings_["example_slices"] == n


@pytest.mark.parametrize("dims, m, first_layer", [
    ([4, 16, 1], 200, "auto"),             # too little work per iteration (planar's narrow layers have a
                                           # team of their own: test_narrow_team.py)
    ([12288, 20, 7, 5, 1], 209, "primal"),  # cat: its first layer runs as a pair of split products
    ([12288, 20, 7, 5, 1], 209, "gram"),    # the Gram path stays whole
    ([DIMS[0]] + DIMS[1:], 200, "auto"),    # too few columns for two slices of at least 128
])
def test_small_or_whole_matrix_fits_stay_on_one_thread(dims, m, first_layer):
    rng = np.random.RandomState(0)
    X = rng.randn(dims[0], m)
    Y = (rng.rand(1, m) > 0.5).astype(np.float64)
    net = nn.Network(dims, hidden="relu", seed=0)
    net.fit(X, Y, learning_rate=1e-3, iterations=2, first_layer=first_layer)
    assert net.train_settings_["example_slices"] == 1


@needs_two_threads
@pytest.mark.parametrize("dims, m, first_layer, one_thread", [
    ([2, 4, 1], 400, "auto", True),                  # planar: 3e4 flops per iteration
    ([12288, 20, 7, 5, 1], 209, "gram", True),       # cat in Gram space: 2e6
    ([12288, 20, 7, 5, 1], 209, "primal", False),    # cat primal: 2e8
    ([128, 32, 1], 512, "primal", False),            # 1.3e7: OpenBLAS's second thread pays here
])
def test_tiny_iterations_keep_openblas_at_one_thread(dims, m, first_layer, one_thread, blas_threads):
    blas_threads(2)
    rng = np.random.RandomState(0)
    X = rng.randn(dims[0], m)
    Y = (rng.rand(1, m) > 0.5).astype(np.float64)
    net = nn.Network(dims, hidden="relu", seed=0)
    net.fit(X, Y, learning_rate=1e-3, iterations=3, first_layer=first_layer)
    assert net.train_settings_["one_thread"] is one_thread
    assert _core.blas_get_num_threads() == 2
    # the same parameters as a fit with OpenBLAS at one thread throughout, up to rounding
    blas_threads(1)
    alone = nn.Network(dims, hidden="relu", seed=0)
    alone.fit(X, Y, learning_rate=1e-3, iterations=3, first_layer=first_layer)
    assert_params_close(net.params, alone.params, 1e-12, "2 threads against 1")


@needs_two_threads
def test_divergence_in_a_split_fit_keeps_the_last_finite_parameters():
    X, Y = make_data()
    make = lambda: nn.Network(DIMS, hidden="linear", init="xavier", seed=5)  # noqa: E731
    net, _ = assert_divergence_keeps_the_last_finite_parameters(make, X, Y, 1e8, record_every=1)
    assert net.train_settings_["example_slices"] == 2


@needs_two_threads
def test_concurrent_split_fits_agree_and_give_the_thread_count_back(blas_threads):
    # OpenBLAS's thread count is one setting for the process; fits of two networks in two Python threads
    # each hold it at one and the last to finish gives the count back
    blas_threads(2)
    X, Y = make_data()
    start = nn.Network(DIMS, hidden="relu", init="xavier", seed=6).params
    nets = [nn.Network.from_params(start, hidden="relu") for _ in range(3)]
    assert_concurrent_fits_match_alone(nets, lambda net: net.fit(X, Y, learning_rate=0.05, iterations=ITERATIONS))
    assert _core.blas_get_num_threads() == 2
    assert all(net.train_settings_["example_slices"] == 2 for net in nets)
