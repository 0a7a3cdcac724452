"""bench/peers.py's runners: every timed call does the same work (its iterations and the cost of the parameters
they reach), and the products-alone row makes exactly the products an iteration needs."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


peers, workloads = load("peers"), load("workloads")
SMALL = workloads.Workload("small", (6, 5, 4, 1), 30, "tanh", 0.1, 3)


@pytest.mark.parametrize("impl", ["products", "products_torch"])
def test_products_alone_makes_the_products_of_an_iteration(monkeypatch, impl):
    if impl == "products_torch":
        pytest.importorskip("torch", reason="the products in PyTorch need the bench extra")
    monkeypatch.setattr(peers, "PRODUCTS_MIN_FLOPS", 0)
    X, _ = workloads.make_data(SMALL)
    params0 = workloads.initial_params(SMALL, np.float64)
    runner = peers.make_runner(impl, SMALL, X, None, params0, np.float64)
    dZ_L = runner.dZ[-1].copy()
    runner.reset()
    runner.train(2)
    assert runner.params() is None
    (W1, _), (W2, _), (W3, _) = params0
    Z1 = W1 @ X
    Z2 = W2 @ Z1
    np.testing.assert_allclose(runner.Z[0], Z1, rtol=1e-12)
    np.testing.assert_allclose(runner.Z[1], Z2, rtol=1e-12)
    np.testing.assert_allclose(runner.Z[2], W3 @ Z2, rtol=1e-12)
    dZ2 = W3.T @ dZ_L
    dZ1 = W2.T @ dZ2
    np.testing.assert_allclose(runner.dZ[1], dZ2, rtol=1e-12)
    np.testing.assert_allclose(runner.dZ[0], dZ1, rtol=1e-12)
    np.testing.assert_allclose(runner.dW[2], dZ_L @ Z2.T, rtol=1e-12)
    np.testing.assert_allclose(runner.dW[1], dZ2 @ Z1.T, rtol=1e-12)
    np.testing.assert_allclose(runner.dW[0], dZ1 @ X.T, rtol=1e-12)


def test_products_alone_runs_only_where_products_are_the_work():
    for name, runs in (("planar", False), ("logistic", False), ("cat", False), ("wide", True), ("deep", True)):
        assert peers.products_apply(workloads.WORKLOADS[name]) is runs, name
    X, Y = workloads.make_data(SMALL)
    for impl in ("products", "products_torch"):
        with pytest.raises(peers.PeerUnavailable, match="not where its time goes"):
            peers.make_runner(impl, SMALL, X, Y, workloads.initial_params(SMALL, np.float64), np.float64)


@pytest.mark.parametrize("impl", ["torch", "sklearn"])
def test_peers_end_their_call_with_the_cost_of_the_parameters_reached(impl):
    """nn.fit and nn.reference.train report the cost of the parameters they reach, one forward pass after the
    last step; the PyTorch and scikit-learn runners make the same pass, so that every timed call does the same
    work. The cost they compute is that cost."""
    if not peers.installed(impl):
        pytest.skip(f"{impl} is not installed (the bench extra)")
    X, Y = workloads.make_data(SMALL)
    runner = peers.make_runner(impl, SMALL, X, Y, workloads.initial_params(SMALL, np.float64), np.float64)
    runner.reset()
    runner.train(3)
    expected = workloads.cost64(X, Y, runner.params(), SMALL.activations)
    assert runner.final_cost == pytest.approx(expected, rel=1e-10)


def test_a_call_counts_its_iterations_and_the_final_forward_pass():
    dims, m = SMALL.layer_dims, SMALL.m
    forward = 2 * m * (6 * 5 + 5 * 4 + 4 * 1)
    assert workloads.useful_flops(dims, m) == 2 * forward + 2 * m * (5 * 4 + 4 * 1)
    assert workloads.call_flops(dims, m, 7) == 7 * workloads.useful_flops(dims, m) + forward


def test_nn_on_the_other_blas_trains_there_and_gives_the_blas_back(monkeypatch):
    """The "nn on OpenBLAS" row runs beside nn on MKL, and "nn on MKL" beside nn on OpenBLAS: its calls switch
    to the other library and back. Without MKL installed the row is reported unavailable, not timed on the
    same library twice; the switch is then checked with set_blas stood in for."""
    import nn

    X, Y = workloads.make_data(SMALL)
    params0 = workloads.initial_params(SMALL, np.float64)
    if nn.get_blas() == "openblas" and nn._blas._mkl_runtime_path() is None:
        with pytest.raises(peers.PeerUnavailable, match="MKL is not installed"):
            peers.make_runner("nn_other_blas", SMALL, X, Y, params0, np.float64)
        state = {"blas": "mkl"}
        monkeypatch.setattr(nn, "get_blas", lambda: state["blas"])
        monkeypatch.setattr(nn, "set_blas", lambda name: state.update(blas=name))
    before = nn.get_blas()
    other = peers.other_blas()
    assert other != before
    runner = peers.make_runner("nn_other_blas", SMALL, X, Y, params0, np.float64)
    fit, seen = nn.Network.fit, []

    def fit_noting_the_blas(self, *args, **kwargs):
        seen.append(nn.get_blas())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(nn.Network, "fit", fit_noting_the_blas)
    runner.reset()
    runner.train(3)
    assert seen == [other]
    assert nn.get_blas() == before
    expected = nn.reference.train(X, Y, params0, SMALL.activations, SMALL.learning_rate, 3)[0]
    for (W, b), (W_ref, b_ref) in zip(runner.params(), expected):
        np.testing.assert_allclose(W, W_ref, rtol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-12)
