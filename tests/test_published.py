"""Published unit cases of the course assignments, pinned literally at the precision printed.

Each case draws its inputs with np.random.seed(s) followed by np.random.randn calls in the order listed,
exactly as the course's test-case helpers do. A value printed with 8 decimals must hold to 5e-9 absolute.
Every case runs against nn.reference (the oracle) and against nn.functional / nn.Network (the C++ core).
"""

import numpy as np
import pytest

import nn
from nn import functional, reference
from helpers import assert_close, assert_published

MODULES = {"reference": reference, "functional": functional}


@pytest.fixture(params=sorted(MODULES))
def F(request):
    """The module under test: nn.reference or nn.functional."""
    return MODULES[request.param]


# ------------------------------------------------------------------ Week 4, "Building your Deep Neural Network"

def test_linear_forward(F):
    np.random.seed(1)
    A = np.random.randn(3, 2)
    W = np.random.randn(1, 3)
    b = np.random.randn(1, 1)
    Z = F.linear_forward(A, W, b)
    assert_published(Z, [[3.26295337, -1.23429987]], 8, "Z")


@pytest.mark.parametrize("name, expected", [
    ("sigmoid", [[0.96890023, 0.11013289]]),
    ("relu", [[3.43896131, 0.0]]),
])
def test_linear_activation_forward(F, name, expected):
    np.random.seed(2)
    A_prev = np.random.randn(3, 2)
    W = np.random.randn(1, 3)
    b = np.random.randn(1, 1)
    Z = F.linear_forward(A_prev, W, b)
    A = F.activation_forward(Z, name)
    assert_published(A, expected, 8, f"{name} A")


def _three_layer_case():
    np.random.seed(6)
    X = np.random.randn(5, 4)
    W1 = np.random.randn(4, 5)
    b1 = np.random.randn(4, 1)
    W2 = np.random.randn(3, 4)
    b2 = np.random.randn(3, 1)
    W3 = np.random.randn(1, 3)
    b3 = np.random.randn(1, 1)
    return X, [(W1, b1), (W2, b2), (W3, b3)]


def test_L_model_forward(F):
    X, params = _three_layer_case()
    AL, caches = F.forward(X, params, ["relu", "relu", "sigmoid"])
    assert_published(AL, [[0.03921668, 0.70498921, 0.19734387, 0.04728177]], 8, "AL")
    assert len(caches) == 3


def test_L_model_forward_network():
    """The same case through nn.Network.from_params(...).predict_proba."""
    X, params = _three_layer_case()
    net = nn.Network.from_params(params, hidden="relu")
    assert_published(net.predict_proba(X), [[0.03921668, 0.70498921, 0.19734387, 0.04728177]], 8, "AL")


def test_compute_cost(F):
    Y = np.asarray([[1, 1, 0]], dtype=np.float64)
    AL = np.array([[0.8, 0.9, 0.4]])
    J = F.cost(AL, Y)
    assert isinstance(J, float)
    assert_close(J, 0.2797765635793422, 1e-12, "cost")


def test_linear_backward(F):
    np.random.seed(1)
    dZ = np.random.randn(3, 4)
    A_prev = np.random.randn(5, 4)
    W = np.random.randn(3, 5)
    b = np.random.randn(3, 1)  # drawn to keep the course's random sequence; not an input
    dA_prev, dW, db = F.linear_backward(dZ, A_prev, W)
    assert dA_prev.shape == (5, 4) and dW.shape == (3, 5) and db.shape == (3, 1)
    assert_published(db, [[-0.14713786], [-0.11313155], [-0.13209101]], 8, "db")
    assert_published(dW[0], [0.07313866, -0.0976715, -0.87585828, 0.73763362, 0.00785716], 8, "dW[0]")
    assert_published(dA_prev[0], [-1.15171336, 0.06718465, -0.3204696, 2.09812712], 8, "dA_prev[0]")


# ------------------------------------------------------------------ initialisation

INIT_W1_ROW0 = [0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388]
INIT_W2_ROW2 = [-0.00768836, -0.00230031, 0.00745056, 0.01976111]


@pytest.mark.parametrize("source", ["reference", "Network"])
def test_initialize_parameters_deep(source):
    if source == "reference":
        params = reference.initialize_parameters([5, 4, 3], init="small", seed=3)
    else:
        params = nn.Network([5, 4, 3], init="small", seed=3).params
    (W1, b1), (W2, b2) = params
    assert W1.shape == (4, 5) and W2.shape == (3, 4)
    assert_published(W1[0], INIT_W1_ROW0, 8, "W1[0]")
    assert_published(W2[2], INIT_W2_ROW2, 8, "W2[2]")
    assert np.array_equal(b1, np.zeros((4, 1))) and np.array_equal(b2, np.zeros((3, 1)))


# ------------------------------------------------------------------ Week 4, "Deep Neural Network - Application" (2 iterations)

def _training_case():
    np.random.seed(1)
    X = np.random.randn(10, 10)
    Y = np.array([[1, 1, 1, 1, 0, 0, 0, 1, 1, 0]], dtype=np.float64)
    return X, Y


@pytest.mark.parametrize("source", ["reference", "Network"])
def test_L_layer_model_two_iterations(source):
    X, Y = _training_case()
    dims = [10, 5, 6, 1]
    if source == "reference":
        params0 = reference.initialize_parameters(dims, init="xavier", seed=1)
        params, iterations, costs = reference.train(X, Y, params0, ["relu", "relu", "sigmoid"],
                                                    learning_rate=0.0075, iterations=2)
    else:
        net = nn.Network(dims, hidden="relu", output="sigmoid", init="xavier", seed=1)
        hist = net.fit(X, Y, learning_rate=0.0075, iterations=2)
        params, iterations, costs = net.params, hist.iterations, hist.costs
    assert list(np.asarray(iterations)) == [0, 2]
    assert_published(costs[0], 0.70723944, 8, "cost at iteration 0")
    W3, b3 = params[2]
    assert_published(b3, [[0.0013201]], 7, "b3")
    assert_published(W3, [[-0.09079199, -0.08117381, 0.07667568, 0.16665535, 0.08029575, 0.04805811]], 8, "W3")


# ------------------------------------------------------------------ Week 2, "Logistic Regression with a Neural Network mindset"
# Not in the issue: added from the course notebook (propagate / optimize test cases; w there is our W.T).
# The 12-significant-digit values are held to 1e-11 relative (they were printed rounded to ~3e-12).

def _logistic_case():
    W = np.array([[1.0, 2.0]])
    b = np.array([[2.0]])
    X = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]])
    Y = np.array([[1, 0, 1]], dtype=np.float64)
    return [(W, b)], X, Y


def test_logistic_propagate(F):
    params, X, Y = _logistic_case()
    AL, caches = F.forward(X, params, ["sigmoid"])
    assert_close(F.cost(AL, Y), 5.801545319394553, 1e-12, "cost")
    [(dW, db)] = F.backward(AL, Y, caches, ["sigmoid"])
    assert_published(dW, [[0.99845601, 2.39507239]], 8, "dw")
    assert_close(db, [[0.00145557813678]], 1e-11, "db")


@pytest.mark.parametrize("source", ["reference", "Network"])
def test_logistic_optimize(source):
    params, X, Y = _logistic_case()
    if source == "reference":
        [(W, b)], _, _ = reference.train(X, Y, params, ["sigmoid"], learning_rate=0.009, iterations=100)
    else:
        net = nn.Network.from_params(params)
        assert net.activations == ("sigmoid",)
        net.fit(X, Y, learning_rate=0.009, iterations=100)
        [(W, b)] = net.params
    assert_published(W, [[0.19033591, 0.12259159]], 8, "w")
    assert_close(b, [[1.92535983008]], 1e-11, "b")


def test_logistic_regression_zeros_init_matches_reference():
    """nn.Network([n_x, 1], init="zeros") is logistic regression: same history and parameters as reference.train."""
    rng = np.random.RandomState(0)
    X = rng.randn(4, 30)
    Y = (np.array([[1.0, -2.0, 0.5, 0.0]]) @ X + 0.3 * rng.randn(1, 30) > 0).astype(np.float64)
    net = nn.Network([4, 1], init="zeros")
    assert net.activations == ("sigmoid",)
    params0 = net.params
    assert all(not np.any(W) and not np.any(b) for W, b in params0)
    hist = net.fit(X, Y, learning_rate=0.1, iterations=300, record_every=50)
    ref_params, ref_iterations, ref_costs = reference.train(X, Y, params0, ["sigmoid"], 0.1, 300, record_every=50)
    assert_close(hist.costs[0], np.log(2.0), 1e-12, "cost of zero parameters")  # sigmoid(0) = 1/2 everywhere
    assert np.array_equal(hist.iterations, ref_iterations)
    assert_close(hist.costs, ref_costs, 1e-10, "costs")
    assert ref_costs[-1] < 0.5 * ref_costs[0]   # it actually learned something
    assert_close(net.params[0][0], ref_params[0][0], 1e-10, "W")
    assert_close(net.params[0][1], ref_params[0][1], 1e-10, "b")
