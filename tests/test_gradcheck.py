"""Gradient check: central finite differences of the full-network cost against the analytic backward.

The cost J(params) is computed by nn.reference (forward + cost, float64); each parameter entry is moved by
+-EPS and dJ/dp = (J(p + EPS) - J(p - EPS)) / (2 EPS). The analytic gradients of nn.functional.backward (and of
nn.reference.backward, the oracle) must agree to 1e-6 relative, normwise over each parameter array.
For relu / leaky_relu the data keep every hidden Z at least KINK_MARGIN away from 0, and every perturbed
forward pass is checked to leave the sign pattern of all hidden Z unchanged, so a finite difference never
straddles a kink (the test asserts this rather than trusting the seed).
"""

import numpy as np
import pytest

from nn import functional, reference
from helpers import assert_close, relative_error

EPS = 5e-6   # ~ cbrt(machine eps): balances the O(EPS^2) truncation and O(eps/EPS) rounding errors
RTOL = 1e-6
KINK_MARGIN = 1e-3
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
NETWORKS = {"3-layer m=6": ([4, 5, 3, 1], 6), "4-layer m=5": ([3, 4, 4, 2, 1], 5), "2-layer m=1": ([3, 4, 1], 1)}
SEED = 0


def make_case(dims, m, hidden, seed=SEED):
    rng = np.random.RandomState(seed)
    L = len(dims) - 1
    activations = [hidden] * (L - 1) + ["sigmoid"]
    X = rng.randn(dims[0], m)
    Y = (rng.rand(1, m) > 0.5).astype(np.float64)
    params = [(rng.randn(dims[l], dims[l - 1]) / np.sqrt(dims[l - 1]), 0.5 * rng.randn(dims[l], 1))
              for l in range(1, L + 1)]
    return X, Y, params, activations


def hidden_signs(X, params, activations):
    """Sign pattern of every hidden-layer Z (the output layer is sigmoid: smooth)."""
    _, caches = reference.forward(X, params, activations)
    return [np.sign(Z) for (_, _, _, Z) in caches[:-1]]


def J(X, Y, params, activations):
    AL, _ = reference.forward(X, params, activations)
    return reference.cost(AL, Y)


def numerical_grads(X, Y, params, activations, check_signs):
    params = [(W.copy(), b.copy()) for W, b in params]  # perturbed in place below
    signs = hidden_signs(X, params, activations)
    grads = []
    for W, b in params:
        layer = []
        for P in (W, b):
            G = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + EPS
                J_plus = J(X, Y, params, activations)
                if check_signs:
                    assert all(np.array_equal(s, t) for s, t in zip(signs, hidden_signs(X, params, activations)))
                P[idx] = old - EPS
                J_minus = J(X, Y, params, activations)
                if check_signs:
                    assert all(np.array_equal(s, t) for s, t in zip(signs, hidden_signs(X, params, activations)))
                P[idx] = old
                G[idx] = (J_plus - J_minus) / (2 * EPS)
            layer.append(G)
        grads.append(tuple(layer))
    return grads


@pytest.mark.parametrize("module", [functional, reference], ids=["functional", "reference"])
@pytest.mark.parametrize("network", sorted(NETWORKS))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backward_matches_finite_differences(hidden, network, module):
    dims, m = NETWORKS[network]
    X, Y, params, activations = make_case(dims, m, hidden)
    kinked = hidden in ("relu", "leaky_relu")
    if kinked:
        _, caches = reference.forward(X, params, activations)
        smallest = min(np.min(np.abs(Z)) for (_, _, _, Z) in caches[:-1])
        assert smallest > KINK_MARGIN, f"data too close to the {hidden} kink: min |Z| = {smallest:.2e}"
        # and at least one unit is active somewhere in every hidden layer, so gradients flow to layer 1
        assert all(np.any(Z > 0) for (_, _, _, Z) in caches[:-1])

    AL, caches = module.forward(X, params, activations)
    grads = module.backward(AL, Y, caches, activations)
    expected = numerical_grads(X, Y, params, activations, check_signs=kinked)

    assert len(grads) == len(expected)
    for l, ((dW, db), (dW_num, db_num)) in enumerate(zip(grads, expected), start=1):
        assert np.max(np.abs(dW_num)) > 1e-8, f"dW{l} is numerically zero: the check would be vacuous"
        assert_close(dW, dW_num, RTOL, f"dW{l}")
        assert_close(db, db_num, RTOL, f"db{l}")


def test_gradcheck_detects_a_wrong_gradient():
    """The check itself has teeth: a gradient off by 1e-4 relative in one entry is rejected."""
    X, Y, params, activations = make_case([4, 5, 3, 1], 6, "tanh")
    AL, caches = reference.forward(X, params, activations)
    dW1, _ = reference.backward(AL, Y, caches, activations)[0]
    dW1_num, _ = numerical_grads(X, Y, params, activations, check_signs=False)[0]
    assert relative_error(dW1, dW1_num) < RTOL
    wrong = dW1.copy()
    wrong[0, 0] += 1e-4 * np.max(np.abs(dW1))
    with pytest.raises(AssertionError):
        assert_close(wrong, dW1_num, RTOL, "dW1")
