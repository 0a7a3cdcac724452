"""Bad input at every public entry point: a ValueError or TypeError naming the argument, never a crash or a
silent wrong answer; conversions that are allowed (bool, integer, float16, odd layouts) give the right numbers.

The allocation tests that could take the process down run in a subprocess with an address-space limit, so a
crash (or a missing check) fails the test instead of killing pytest or the machine.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import nn
from nn import functional as F
from nn import reference
from helpers import assert_close, assert_params_close

N_X, M = 3, 6
ACT_NAMES = r"'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear'"
INIT_NAMES = r"'small', 'xavier', 'he', 'zeros'"


def data(n_x=N_X, m=M, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_x, m)
    Y = np.array([[0, 1] * (m // 2) + [1] * (m % 2)], dtype=np.float64)
    return X, Y


X, Y = data()
W = np.random.RandomState(1).randn(2, N_X)
B = np.zeros((2, 1))
PARAMS = [(np.random.RandomState(2).randn(4, N_X), np.zeros((4, 1))),
          (np.random.RandomState(3).randn(1, 4), np.zeros((1, 1)))]
ACTS = ["relu", "sigmoid"]


def net():
    return nn.Network([N_X, 4, 1], hidden="relu", seed=0)


def with_nan(a):
    a = np.array(a, dtype=np.float64)
    a.flat[1] = np.nan
    return a


def with_inf(a, sign=1):
    a = np.array(a, dtype=np.float64)
    a.flat[0] = sign * np.inf
    return a


# Each case: (thunk, exception type, regex the message must match). The regexes name the argument.
CASES = {
    # ---- nn.Network(...)
    "Network: layer_dims not a list": (lambda: nn.Network(5), TypeError, r"layer_dims"),
    "Network: layer_dims a string": (lambda: nn.Network("3,1"), TypeError, r"layer_dims"),
    "Network: no sizes": (lambda: nn.Network([]), ValueError, r"layer_dims"),
    "Network: one size": (lambda: nn.Network([3]), ValueError, r"layer_dims.*two"),
    "Network: size 0": (lambda: nn.Network([3, 0, 1]), ValueError, r"layer_dims\[1\]"),
    "Network: input size 0": (lambda: nn.Network([0, 1]), ValueError, r"layer_dims\[0\]"),
    "Network: negative size": (lambda: nn.Network([3, -2, 1]), ValueError, r"layer_dims\[1\]"),
    "Network: float size": (lambda: nn.Network([3.0, 1]), TypeError, r"layer_dims\[0\]"),
    "Network: fractional size": (lambda: nn.Network([3, 1.5, 1]), TypeError, r"layer_dims\[1\]"),
    "Network: str size": (lambda: nn.Network([3, "4", 1]), TypeError, r"layer_dims\[1\]"),
    "Network: bool size": (lambda: nn.Network([True, 1]), TypeError, r"layer_dims\[0\]"),
    "Network: None size": (lambda: nn.Network([3, None]), TypeError, r"layer_dims\[1\]"),
    "Network: size beyond 32-bit": (lambda: nn.Network([2**31, 1]), ValueError, r"layer_dims\[0\]"),
    "Network: unknown hidden": (lambda: nn.Network([3, 2, 1], hidden="softplus"), ValueError,
                                r"hidden.*" + ACT_NAMES),
    "Network: hidden not a str": (lambda: nn.Network([3, 2, 1], hidden=3), ValueError, r"hidden.*" + ACT_NAMES),
    "Network: unknown activation": (lambda: nn.Network([3, 2, 1], activations=["relu", "soft"]), ValueError,
                                    r"activations\[1\].*" + ACT_NAMES),
    "Network: activations wrong length": (lambda: nn.Network([3, 2, 1], activations=["sigmoid"]), ValueError,
                                          r"activations"),
    "Network: activations a string": (lambda: nn.Network([3, 1], activations="sigmoid"), TypeError,
                                      r"activations"),
    "Network: non-sigmoid output": (lambda: nn.Network([3, 1], output="relu"), ValueError, r"output"),
    "Network: unknown init": (lambda: nn.Network([3, 1], init="glorot"), ValueError, r"init.*" + INIT_NAMES),
    "Network: init not a str": (lambda: nn.Network([3, 1], init=1), ValueError, r"init.*" + INIT_NAMES),
    "Network: int dtype": (lambda: nn.Network([3, 1], dtype=np.int32), TypeError, r"dtype"),
    "Network: complex dtype": (lambda: nn.Network([3, 1], dtype=np.complex128), TypeError, r"dtype"),
    "Network: float16 dtype": (lambda: nn.Network([3, 1], dtype=np.float16), TypeError, r"dtype"),
    "Network: object dtype": (lambda: nn.Network([3, 1], dtype=object), TypeError, r"dtype"),
    "Network: nonsense dtype": (lambda: nn.Network([3, 1], dtype="floaty"), TypeError, r"dtype"),

    # ---- fit
    "fit: X 1-D": (lambda: net().fit(X[0], Y, iterations=1), ValueError, r"X.*2-D"),
    "fit: X 3-D": (lambda: net().fit(X[None], Y, iterations=1), ValueError, r"X.*2-D"),
    "fit: X 0-D": (lambda: net().fit(1.0, Y, iterations=1), ValueError, r"X.*2-D"),
    "fit: Y 3-D": (lambda: net().fit(X, Y[None], iterations=1), ValueError, r"Y.*2-D"),
    "fit: Y other m": (lambda: net().fit(X, Y[:, :-1], iterations=1), ValueError, r"Y.*examples"),
    "fit: Y 1-D other m": (lambda: net().fit(X, Y[0, :-1], iterations=1), ValueError, r"Y"),
    "fit: X rows != n[0]": (lambda: net().fit(X[:2], Y, iterations=1), ValueError, r"X.*3 rows"),
    "fit: X transposed": (lambda: net().fit(np.random.randn(M, N_X), Y, iterations=1), ValueError,
                          r"X.*transposed"),
    "fit: Y two rows": (lambda: net().fit(X, np.vstack([Y, Y]), iterations=1), ValueError, r"Y.*row"),
    "fit: m = 0": (lambda: net().fit(X[:, :0], Y[:, :0], iterations=1), ValueError, r"X.*m >= 1"),
    "fit: X object": (lambda: net().fit(X.astype(object), Y, iterations=1), TypeError, r"X.*dtype"),
    "fit: X str": (lambda: net().fit(X.astype(str), Y, iterations=1), TypeError, r"X.*dtype"),
    "fit: X bytes": (lambda: net().fit(X.astype("S8"), Y, iterations=1), TypeError, r"X.*dtype"),
    "fit: X complex": (lambda: net().fit(X.astype(complex), Y, iterations=1), TypeError, r"X.*dtype"),
    "fit: X datetime": (lambda: net().fit(X.astype("M8[s]"), Y, iterations=1), TypeError, r"X.*dtype"),
    "fit: X None": (lambda: net().fit(None, Y, iterations=1), TypeError, r"X"),
    "fit: X ragged list": (lambda: net().fit([[1.0, 2.0], [3.0]], Y, iterations=1), (ValueError, TypeError),
                           r"X"),
    "fit: Y object": (lambda: net().fit(X, Y.astype(object), iterations=1), TypeError, r"Y.*dtype"),
    "fit: Y str": (lambda: net().fit(X, Y.astype(str), iterations=1), TypeError, r"Y.*dtype"),
    "fit: Y complex": (lambda: net().fit(X, Y.astype(complex), iterations=1), TypeError, r"Y.*dtype"),
    "fit: NaN in X": (lambda: net().fit(with_nan(X), Y, iterations=1), ValueError, r"X.*NaN"),
    "fit: inf in X": (lambda: net().fit(with_inf(X), Y, iterations=1), ValueError, r"X.*inf"),
    "fit: -inf in X": (lambda: net().fit(with_inf(X, -1), Y, iterations=1), ValueError, r"X.*inf"),
    "fit: NaN in Y": (lambda: net().fit(X, with_nan(Y), iterations=1), ValueError, r"Y.*NaN"),
    "fit: inf in Y": (lambda: net().fit(X, with_inf(Y), iterations=1), ValueError, r"Y.*inf"),
    "fit: label 2": (lambda: net().fit(X, 2 * Y, iterations=1), ValueError, r"Y.*0 or 1"),
    "fit: label 0.5": (lambda: net().fit(X, Y * 0 + 0.5, iterations=1), ValueError, r"Y.*0 or 1"),
    "fit: label -1": (lambda: net().fit(X, Y - 1, iterations=1), ValueError, r"Y.*0 or 1"),
    "fit: label 1+eps": (lambda: net().fit(X, Y * (1 + 2**-50), iterations=1), ValueError, r"Y.*0 or 1"),
    "fit: int label 2": (lambda: net().fit(X, (2 * Y).astype(np.int64), iterations=1), ValueError, r"Y.*0 or 1"),
    "fit: learning_rate 0": (lambda: net().fit(X, Y, learning_rate=0, iterations=1), ValueError,
                             r"learning_rate"),
    "fit: learning_rate < 0": (lambda: net().fit(X, Y, learning_rate=-0.1, iterations=1), ValueError,
                               r"learning_rate"),
    "fit: learning_rate NaN": (lambda: net().fit(X, Y, learning_rate=float("nan"), iterations=1), ValueError,
                               r"learning_rate"),
    "fit: learning_rate inf": (lambda: net().fit(X, Y, learning_rate=float("inf"), iterations=1), ValueError,
                               r"learning_rate"),
    "fit: learning_rate -inf": (lambda: net().fit(X, Y, learning_rate=-np.inf, iterations=1), ValueError,
                                r"learning_rate"),
    "fit: learning_rate str": (lambda: net().fit(X, Y, learning_rate="0.1", iterations=1), TypeError,
                               r"learning_rate"),
    "fit: learning_rate None": (lambda: net().fit(X, Y, learning_rate=None, iterations=1), TypeError,
                                r"learning_rate"),
    "fit: learning_rate complex": (lambda: net().fit(X, Y, learning_rate=0.1j, iterations=1), TypeError,
                                   r"learning_rate"),
    "fit: learning_rate array": (lambda: net().fit(X, Y, learning_rate=np.array([0.1, 0.2]), iterations=1),
                                 TypeError, r"learning_rate"),
    "fit: iterations < 0": (lambda: net().fit(X, Y, iterations=-1), ValueError, r"iterations"),
    "fit: iterations float": (lambda: net().fit(X, Y, iterations=1.5), TypeError, r"iterations"),
    "fit: iterations str": (lambda: net().fit(X, Y, iterations="10"), TypeError, r"iterations"),
    "fit: record_every 0": (lambda: net().fit(X, Y, iterations=1, record_every=0), ValueError, r"record_every"),
    "fit: record_every < 0": (lambda: net().fit(X, Y, iterations=1, record_every=-5), ValueError,
                              r"record_every"),
    "fit: print_every 0": (lambda: net().fit(X, Y, iterations=1, print_every=0), ValueError, r"print_every"),
    "fit: first_layer unknown": (lambda: net().fit(X, Y, iterations=1, first_layer="dual"), ValueError,
                                 r"first_layer.*'auto'.*'gram'.*'primal'"),
    "fit: callback not callable": (lambda: net().fit(X, Y, iterations=1, callback=3), TypeError, r"callback"),

    # ---- predict / predict_proba / cost
    "predict: X 1-D": (lambda: net().predict(X[:, 0]), ValueError, r"X.*2-D"),
    "predict: X rows": (lambda: net().predict(X[:2]), ValueError, r"X.*3 rows"),
    "predict: m = 0": (lambda: net().predict(X[:, :0]), ValueError, r"X.*m >= 1"),
    "predict: X complex": (lambda: net().predict(X.astype(complex)), TypeError, r"X.*dtype"),
    "predict: NaN": (lambda: net().predict(with_nan(X)), ValueError, r"X.*NaN"),
    "predict_proba: X 3-D": (lambda: net().predict_proba(X[None]), ValueError, r"X.*2-D"),
    "predict_proba: X rows": (lambda: net().predict_proba(X[:1]), ValueError, r"X.*3 rows"),
    "predict_proba: m = 0": (lambda: net().predict_proba(X[:, :0]), ValueError, r"X.*m >= 1"),
    "predict_proba: object": (lambda: net().predict_proba(X.astype(object)), TypeError, r"X.*dtype"),
    "predict_proba: str": (lambda: net().predict_proba(X.astype(str)), TypeError, r"X.*dtype"),
    "predict_proba: inf": (lambda: net().predict_proba(with_inf(X)), ValueError, r"X.*inf"),
    "cost: Y two rows": (lambda: net().cost(X, np.vstack([Y, Y])), ValueError, r"Y.*row"),
    "cost: Y other m": (lambda: net().cost(X, Y[:, 1:]), ValueError, r"Y.*examples"),
    "cost: X rows": (lambda: net().cost(X[:2], Y), ValueError, r"X.*3 rows"),
    "cost: m = 0": (lambda: net().cost(X[:, :0], Y[:, :0]), ValueError, r"X.*m >= 1"),
    "cost: labels": (lambda: net().cost(X, Y + 1), ValueError, r"Y.*0 or 1"),
    "cost: NaN in Y": (lambda: net().cost(X, with_nan(Y)), ValueError, r"Y.*NaN"),
    "cost: Y complex": (lambda: net().cost(X, Y.astype(complex)), TypeError, r"Y.*dtype"),

    # ---- Network.from_params
    "from_params: empty": (lambda: nn.Network.from_params([]), TypeError, r"params"),
    "from_params: not a list": (lambda: nn.Network.from_params(3), TypeError, r"params"),
    "from_params: not pairs": (lambda: nn.Network.from_params([(W,)]), TypeError, r"params\[0\]"),
    "from_params: W chain": (lambda: nn.Network.from_params([(W, B), (np.ones((1, 3)), np.ones((1, 1)))]),
                             ValueError, r"W2"),
    "from_params: b shape": (lambda: nn.Network.from_params([(W, np.zeros((3, 1)))]), ValueError, r"b1"),
    "from_params: b row": (lambda: nn.Network.from_params([(W, np.zeros((1, 2)))]), ValueError, r"b1"),
    "from_params: W 1-D": (lambda: nn.Network.from_params([(W[0], B[:1])]), ValueError, r"W1"),
    "from_params: W 3-D": (lambda: nn.Network.from_params([(W[None], B)]), ValueError, r"W1"),
    "from_params: W empty": (lambda: nn.Network.from_params([(np.zeros((0, 3)), np.zeros((0, 1)))]), ValueError,
                             r"W1"),
    "from_params: mixed dtypes": (lambda: nn.Network.from_params([(W, B.astype(np.float32))]), TypeError,
                                  r"params.*dtype"),
    "from_params: object": (lambda: nn.Network.from_params([(W.astype(object), B.astype(object))]), TypeError,
                            r"W1"),
    "from_params: complex": (lambda: nn.Network.from_params([(W.astype(complex), B.astype(complex))]),
                             TypeError, r"W1"),
    "from_params: NaN in W": (lambda: nn.Network.from_params([(with_nan(W), B)]), ValueError, r"W1.*NaN"),
    "from_params: inf in b": (lambda: nn.Network.from_params([(W, with_inf(B))]), ValueError, r"b1.*inf"),
    "from_params: bad dtype=": (lambda: nn.Network.from_params([(W, B)], dtype=np.int64), TypeError, r"dtype"),
    "from_params: bad activation": (lambda: nn.Network.from_params(PARAMS, hidden="nope"), ValueError,
                                    r"hidden.*" + ACT_NAMES),

    # ---- nn.functional
    "linear_forward: A_prev 1-D": (lambda: F.linear_forward(X[:, 0], W, B), ValueError, r"A_prev.*2-D"),
    "linear_forward: W columns": (lambda: F.linear_forward(X, W[:, :2], B), ValueError, r"W"),
    "linear_forward: b shape": (lambda: F.linear_forward(X, W, np.zeros((3, 1))), ValueError, r"b"),
    "linear_forward: b 3-D": (lambda: F.linear_forward(X, W, B[None]), ValueError, r"b"),
    "linear_forward: NaN": (lambda: F.linear_forward(with_nan(X), W, B), ValueError, r"A_prev.*NaN"),
    "linear_forward: W inf": (lambda: F.linear_forward(X, with_inf(W), B), ValueError, r"W.*inf"),
    "linear_forward: complex": (lambda: F.linear_forward(X.astype(complex), W, B), TypeError, r"A_prev"),
    "linear_forward: W object": (lambda: F.linear_forward(X, W.astype(object), B), TypeError, r"W"),
    "linear_forward: b str": (lambda: F.linear_forward(X, W, B.astype(str)), TypeError, r"b"),
    "linear_forward: m = 0": (lambda: F.linear_forward(X[:, :0], W, B), ValueError, r"A_prev"),
    "linear_forward: layer size 0": (lambda: F.linear_forward(X, W[:0], B[:0]), ValueError, r"W"),
    "linear_forward: n_prev 0": (lambda: F.linear_forward(X[:0], W[:, :0], B), ValueError, r"A_prev|W"),
    "activation_forward: unknown name": (lambda: F.activation_forward(X, "gelu"), ValueError,
                                         r"name.*" + ACT_NAMES),
    "activation_forward: Z 1-D": (lambda: F.activation_forward(X[0], "relu"), ValueError, r"Z.*2-D"),
    "activation_forward: NaN": (lambda: F.activation_forward(with_nan(X), "tanh"), ValueError, r"Z.*NaN"),
    "activation_forward: object": (lambda: F.activation_forward(X.astype(object), "tanh"), TypeError, r"Z"),
    "activation_forward: m = 0": (lambda: F.activation_forward(X[:, :0], "relu"), ValueError, r"Z"),
    "activation_backward: unknown name": (lambda: F.activation_backward(X, X, "Relu"), ValueError,
                                          r"name.*" + ACT_NAMES),
    "activation_backward: shapes": (lambda: F.activation_backward(X, X[:, :2], "relu"), ValueError, r"Z"),
    "activation_backward: dA NaN": (lambda: F.activation_backward(with_nan(X), X, "relu"), ValueError,
                                    r"dA.*NaN"),
    "activation_backward: complex": (lambda: F.activation_backward(X, X.astype(complex), "relu"), TypeError,
                                     r"Z"),
    "activation_backward: m = 0": (lambda: F.activation_backward(X[:, :0], X[:, :0], "relu"), ValueError,
                                   r"dA|Z"),
    "linear_backward: m mismatch": (lambda: F.linear_backward(X[:2], X[:, :2], W), ValueError, r"A_prev"),
    "linear_backward: W shape": (lambda: F.linear_backward(X[:2], X, W.T), ValueError, r"W"),
    "linear_backward: dZ 1-D": (lambda: F.linear_backward(X[0], X, W), ValueError, r"dZ.*2-D"),
    "linear_backward: NaN": (lambda: F.linear_backward(with_nan(X[:2]), X, W), ValueError, r"dZ.*NaN"),
    "linear_backward: m = 0": (lambda: F.linear_backward(X[:2, :0], X[:, :0], W), ValueError, r"dZ|A_prev"),
    "cost: AL/Y shapes": (lambda: F.cost(np.full((1, M), 0.5), Y[:, 1:]), ValueError, r"Y"),
    "cost: AL NaN": (lambda: F.cost(with_nan(np.full((1, M), 0.5)), Y), ValueError, r"AL.*NaN"),
    "cost: Y complex": (lambda: F.cost(np.full((1, M), 0.5), Y.astype(complex)), TypeError, r"Y"),
    "cost: label 2": (lambda: F.cost(np.full((1, M), 0.5), 2 * Y), ValueError, r"Y.*0 or 1"),
    "cost: AL > 1": (lambda: F.cost(np.full((1, M), 1.5), Y), ValueError, r"AL"),
    "cost: AL < 0": (lambda: F.cost(np.full((1, M), -0.5), Y), ValueError, r"AL"),
    "cost: m = 0": (lambda: F.cost(np.zeros((1, 0)), np.zeros((1, 0))), ValueError, r"AL|Y"),
    "cost: two rows": (lambda: F.cost(np.full((2, M), 0.5), np.vstack([Y, Y])), ValueError, r"AL|Y"),
    "forward: params not a list": (lambda: F.forward(X, 3, ["sigmoid"]), TypeError, r"params"),
    "forward: unknown activation": (lambda: F.forward(X, PARAMS, ["relu", "swish"]), ValueError,
                                    r"activations\[1\].*" + ACT_NAMES),
    "forward: activations length": (lambda: F.forward(X, PARAMS, ["sigmoid"]), ValueError, r"activations"),
    "forward: X rows": (lambda: F.forward(X[:2], PARAMS, ACTS), ValueError, r"W|X"),
    "forward: NaN in X": (lambda: F.forward(with_nan(X), PARAMS, ACTS), ValueError, r"\bX\b.*NaN"),
    "forward: X complex": (lambda: F.forward(X.astype(complex), PARAMS, ACTS), TypeError, r"\bX\b"),
    "backward: label 2": (lambda: F.backward(*_fwd_AL(), 2 * Y, _fwd_caches(), ACTS), ValueError, r"Y.*0 or 1"),
    "backward: Y shape": (lambda: F.backward(*_fwd_AL(), Y[:, 1:], _fwd_caches(), ACTS), ValueError, r"Y"),
    "backward: activations length": (lambda: F.backward(*_fwd_AL(), Y, _fwd_caches(), ["sigmoid"]), ValueError,
                                     r"activations"),
    "backward: unknown activation": (lambda: F.backward(*_fwd_AL(), Y, _fwd_caches(), ["swish", "sigmoid"]),
                                     ValueError, r"activations\[0\].*" + ACT_NAMES),
    "update: learning_rate 0": (lambda: F.update(PARAMS, PARAMS, 0), ValueError, r"learning_rate"),
    "update: learning_rate < 0": (lambda: F.update(PARAMS, PARAMS, -1.0), ValueError, r"learning_rate"),
    "update: learning_rate NaN": (lambda: F.update(PARAMS, PARAMS, np.nan), ValueError, r"learning_rate"),
    "update: learning_rate inf": (lambda: F.update(PARAMS, PARAMS, np.inf), ValueError, r"learning_rate"),
    "update: grads length": (lambda: F.update(PARAMS, PARAMS[:1], 0.1), ValueError, r"grads"),
    "update: dW shape": (lambda: F.update(PARAMS[:1], [(PARAMS[0][0].T, PARAMS[0][1])], 0.1), ValueError,
                         r"dW1"),
    "update: dW NaN": (lambda: F.update(PARAMS[:1], [(with_nan(PARAMS[0][0]), PARAMS[0][1])], 0.1), ValueError,
                       r"dW1.*NaN"),
    "update: W complex": (lambda: F.update([(PARAMS[0][0].astype(complex), PARAMS[0][1])], PARAMS[:1], 0.1),
                          TypeError, r"W1"),
}


def _fwd_AL():
    return (F.forward(X, PARAMS, ACTS)[0],)


def _fwd_caches():
    return F.forward(X, PARAMS, ACTS)[1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_naming_the_argument(case):
    thunk, exc, match = CASES[case]
    with warnings.catch_warnings():
        # the exception is the whole answer: no RuntimeWarning leaks out of the checks on the way
        warnings.simplefilter("error")
        with pytest.raises(exc, match=match):
            thunk()


def test_rejected_fit_leaves_the_network_unchanged():
    n = net()
    before = n.params
    for thunk in (lambda: n.fit(with_nan(X), Y, iterations=3), lambda: n.fit(X, 2 * Y, iterations=3),
                  lambda: n.fit(X, Y, learning_rate=-1, iterations=3)):
        with pytest.raises(ValueError):
            thunk()
    for (W0, b0), (W1, b1) in zip(before, n.params):
        np.testing.assert_array_equal(W0, W1)
        np.testing.assert_array_equal(b0, b1)
    # and it still trains
    n.fit(X, Y, learning_rate=0.1, iterations=3)
    assert np.all(np.isfinite(n.predict_proba(X)))


# ------------------------------------------------------------------ save / load

def test_save_refuses_to_overwrite_and_bad_paths(tmp_path):
    n = net()
    path = tmp_path / "m.npz"
    n.save(path)
    with pytest.raises(FileExistsError, match="overwrite"):
        n.save(path)
    with pytest.raises(TypeError):
        n.save(3.5)
    with pytest.raises(TypeError):
        nn.load(None)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("corrupt, match", [
    (lambda a: a.update(W1=a["W1"][:, :-1]), r"W1"),                       # wrong shape
    (lambda a: a.update(W1=a["W1"].astype(np.float32)), r"W1"),            # wrong dtype
    (lambda a: a.update(b2=a["b2"].astype(np.complex128)), r"b2"),         # non-real dtype
    (lambda a: a.update(W2=np.full_like(a["W2"], np.nan)), r"W2.*NaN"),     # non-finite parameters
    (lambda a: a.update(layer_dims=np.array([3, 0, 1])), r"layer_dims"),
    (lambda a: a.update(activations=np.array(["relu", "swish"])), r"activations\[1\]|swish"),
    (lambda a: a.update(dtype=np.array("int32")), r"dtype"),
    (lambda a: a.pop("W2"), r"W2"),
    (lambda a: a.update(format_version=np.array(99)), r"version"),
])
def test_load_rejects_inconsistent_files(tmp_path, corrupt, match):
    path = tmp_path / "m.npz"
    net().save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    corrupt(arrays)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=match):
        nn.load(bad)


def test_load_rejects_garbage(tmp_path):
    for content in (b"", b"not a zip", b"PK\x03\x04" + b"\0" * 40):
        p = tmp_path / "g.npz"
        p.write_bytes(content)
        with pytest.raises(ValueError, match="not a valid nn model file"):
            nn.load(p)


def test_save_load_round_trip_is_exact(tmp_path):
    n = net()
    n.fit(X, Y, learning_rate=0.1, iterations=5)
    n.save(tmp_path / "m.npz")
    m = nn.load(tmp_path / "m.npz")
    assert_params_close(m.params, n.params, 0.0)
    np.testing.assert_array_equal(m.predict_proba(X), n.predict_proba(X))


# ------------------------------------------------------------------ allowed conversions: bool, int, float16

@pytest.mark.parametrize("convert", [
    lambda a: a.astype(bool), lambda a: a.astype(np.int8), lambda a: a.astype(np.int64),
    lambda a: a.astype(np.uint8), lambda a: a.astype(np.float16), lambda a: a.tolist(),
], ids=["bool", "int8", "int64", "uint8", "float16", "list"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bool_and_int_inputs_are_converted(convert, dtype):
    Xi = np.random.RandomState(4).randint(0, 2, size=(N_X, M))
    Xf = Xi.astype(dtype)
    Yf = Y.astype(dtype)
    # the converted values are exact in every target type, so results must be bit-identical
    a = nn.Network([N_X, 4, 1], hidden="tanh", seed=3, dtype=dtype)
    b = nn.Network([N_X, 4, 1], hidden="tanh", seed=3, dtype=dtype)
    ha = a.fit(convert(Xi), convert(Y.astype(np.int64)), learning_rate=0.5, iterations=7, record_every=2)
    hb = b.fit(Xf, Yf, learning_rate=0.5, iterations=7, record_every=2)
    np.testing.assert_array_equal(ha.costs, hb.costs)
    assert_params_close(a.params, b.params, 0.0)
    for W_, b_ in a.params:
        assert W_.dtype == dtype and b_.dtype == dtype
    pa, pb = a.predict_proba(convert(Xi)), b.predict_proba(Xf)
    assert pa.dtype == dtype
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.predict(convert(Xi)), b.predict(Xf))
    assert a.cost(convert(Xi), convert(Y.astype(np.int64))) == b.cost(Xf, Yf)


@pytest.mark.parametrize("convert", [lambda a: a.astype(bool), lambda a: a.astype(np.int32),
                                     lambda a: a.astype(np.uint16), lambda a: a.tolist()],
                         ids=["bool", "int32", "uint16", "list"])
def test_functional_converts_bool_and_int(convert):
    rng = np.random.RandomState(5)
    A = rng.randint(0, 2, size=(N_X, M))
    Wi = rng.randint(-3, 4, size=(2, N_X))
    bi = rng.randint(-3, 4, size=(2, 1))
    Af, Wf, bf = A.astype(float), Wi.astype(float), bi.astype(float)
    Z = F.linear_forward(convert(A), Wi, bi.tolist())
    assert Z.dtype == np.float64
    np.testing.assert_array_equal(Z, F.linear_forward(Af, Wf, bf))
    np.testing.assert_array_equal(F.activation_forward(convert(A), "sigmoid"), F.activation_forward(Af, "sigmoid"))
    np.testing.assert_array_equal(F.activation_backward(convert(A), convert(A), "tanh"),
                                  F.activation_backward(Af, Af, "tanh"))
    dA, dW, db = F.linear_backward(convert(A[:2]), convert(A), Wi)
    dA2, dW2, db2 = F.linear_backward(Af[:2], Af, Wf)
    for u, v in ((dA, dA2), (dW, dW2), (db, db2)):
        np.testing.assert_array_equal(u, v)
    AL = np.full((1, M), 0.25)
    assert F.cost(AL, convert(Y.astype(np.int64))) == F.cost(AL, Y)
    net_i = nn.Network.from_params([(Wi, bi), (np.ones((1, 2), dtype=np.int64), np.zeros((1, 1), dtype=np.int64))])
    net_f = nn.Network.from_params([(Wf, bf), (np.ones((1, 2)), np.zeros((1, 1)))])
    assert net_i.dtype == np.float64
    assert_params_close(net_i.params, net_f.params, 0.0)


# ------------------------------------------------------------------ layouts: strided, sliced, transposed, read-only

def _layouts(a):
    """(name, array with a's values in that layout)."""
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), dtype=a.dtype)
    big[::2, ::3] = a
    ro = a.copy()
    ro.flags.writeable = False
    return [
        ("C", np.ascontiguousarray(a)),
        ("F", np.asfortranarray(a)),
        ("transposed", np.ascontiguousarray(a.T).T),
        ("strided", big[::2, ::3]),
        ("column slice", np.hstack([a, a])[:, : a.shape[1]]),
        ("reversed", np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]),
        ("read-only", ro),
        ("read-only strided", _readonly(big[::2, ::3])),
    ]


def _readonly(a):
    a = a.view()
    a.flags.writeable = False
    return a


LAYOUT_NAMES = [name for name, _ in _layouts(np.zeros((2, 2)))]


@pytest.mark.parametrize("layout", range(len(LAYOUT_NAMES)), ids=LAYOUT_NAMES)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_layouts_give_reference_results_functional(layout, dtype, rtol):
    rng = np.random.RandomState(6)
    n_prev, n, m = 5, 4, 7
    A = rng.randn(n_prev, m).astype(dtype)
    Wl = rng.randn(n, n_prev).astype(dtype)
    bl = rng.randn(n, 1).astype(dtype)
    dZ = rng.randn(n, m).astype(dtype)
    L = lambda a: _layouts(a)[layout][1]  # noqa: E731
    before = [a.copy() for a in (A, Wl, bl, dZ)]

    assert_close(F.linear_forward(L(A), L(Wl), L(bl)), reference.linear_forward(A, Wl, bl), rtol, "Z")
    Z = reference.linear_forward(A, Wl, bl)
    for g in reference.ACTIVATIONS:
        assert_close(F.activation_forward(L(Z), g), reference.activation_forward(Z, g), rtol, f"A {g}")
        assert_close(F.activation_backward(L(dZ), L(Z), g), reference.activation_backward(dZ, Z, g), rtol,
                     f"dZ {g}", scale=float(np.max(np.abs(dZ))))
    dA, dW, db = F.linear_backward(L(dZ), L(A), L(Wl))
    rdA, rdW, rdb = reference.linear_backward(dZ, A, Wl)
    assert_close(dA, rdA, rtol, "dA_prev")
    assert_close(dW, rdW, rtol, "dW")
    assert_close(db, rdb, rtol, "db")
    AL = reference.sigmoid(Z[:1])
    Yl = (rng.rand(1, m) > 0.5).astype(dtype)
    assert_close(F.cost(L(AL), L(Yl)), reference.cost(AL.astype(np.float64), Yl.astype(np.float64)), rtol, "cost")
    new = F.update([(L(Wl), L(bl))], [(L(Wl * 0.5), L(bl * 0.5))], 0.1)
    ref = reference.update([(Wl, bl)], [(Wl * 0.5, bl * 0.5)], 0.1)
    assert_params_close(new, ref, rtol, "update")
    for a, b in zip((A, Wl, bl, dZ), before):
        np.testing.assert_array_equal(a, b)   # inputs untouched


@pytest.mark.parametrize("layout", range(len(LAYOUT_NAMES)), ids=LAYOUT_NAMES)
@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_layouts_give_reference_results_network(layout, first_layer, dtype, rtol):
    rng = np.random.RandomState(7)
    n_x, m = 5, 9
    Xd = rng.randn(n_x, m).astype(dtype)
    Yd = (rng.rand(1, m) > 0.5).astype(dtype)
    L = lambda a: _layouts(a)[layout][1]  # noqa: E731
    dims, acts = [n_x, 4, 3, 1], ["tanh", "relu", "sigmoid"]
    n = nn.Network(dims, activations=acts, seed=8, dtype=dtype)
    p0 = [(W_.astype(np.float64), b_.astype(np.float64)) for W_, b_ in n.params]
    X64, Y64 = Xd.astype(np.float64), Yd.astype(np.float64)
    ref_params, _, ref_costs = reference.train(X64, Y64, p0, acts, 0.3, 6, record_every=2)
    hist = n.fit(L(Xd), L(Yd), learning_rate=0.3, iterations=6, record_every=2, first_layer=first_layer)
    assert_close(hist.costs, ref_costs, rtol, "costs")
    assert_params_close(n.params, ref_params, rtol)
    expected = reference.forward(X64, ref_params, acts)[0]
    assert_close(n.predict_proba(L(Xd)), expected, rtol, "predict_proba")
    np.testing.assert_array_equal(n.predict(L(Xd)), (n.predict_proba(Xd) > 0.5).astype(np.int64))
    assert_close(n.cost(L(Xd), L(Yd)), reference.cost(expected, Y64), rtol, "cost")


def test_broadcast_arrays_with_zero_strides():
    # np.broadcast_to gives read-only arrays with stride 0: every column the same example
    col = np.random.RandomState(9).randn(N_X, 1)
    Xb = np.broadcast_to(col, (N_X, 5))
    Xd = np.repeat(col, 5, axis=1)
    n = net()
    np.testing.assert_array_equal(n.predict_proba(Xb), n.predict_proba(Xd))
    Wb = np.broadcast_to(np.arange(N_X, dtype=float), (2, N_X))
    assert_close(F.linear_forward(Xb, Wb, np.zeros(2)), reference.linear_forward(Xd, np.array(Wb), np.zeros((2, 1))),
                 1e-12, "Z")
    a, b = net(), net()
    Yb = np.broadcast_to(np.array([[1.0]]), (1, 5))
    a.fit(Xb, Yb, learning_rate=0.1, iterations=3)
    b.fit(Xd, np.ones((1, 5)), learning_rate=0.1, iterations=3)
    assert_params_close(a.params, b.params, 0.0)


def test_1d_labels_are_read_as_one_row():
    a, b = net(), net()
    a.fit(X, Y[0], learning_rate=0.1, iterations=3)
    b.fit(X, Y, learning_rate=0.1, iterations=3)
    assert_params_close(a.params, b.params, 0.0)


# ------------------------------------------------------------------ sizes too large to allocate (in a subprocess)

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def run_child(code, limit_gib=6, timeout=120):
    """Run `code` in a fresh interpreter under an address-space limit (a safety net: without the check being
    tested, the allocation fails there instead of the machine swapping or the OOM killer stepping in)."""
    prelude = textwrap.dedent(f"""
        import resource
        _lim = {int(limit_gib * 2**30)}
        if not {UNDER_ASAN}:   # ASan reserves terabytes of shadow address space: no limit there
            resource.setrlimit(resource.RLIMIT_AS, (_lim, _lim))
        import numpy as np, nn
        def expect_memory_error(thunk, clear=True):
            try:
                thunk()
            except MemoryError as e:
                msg = str(e)
                if clear:
                    assert "bad_alloc" not in msg and ("memory" in msg.lower() or "GiB" in msg), msg
                print("MemoryError:", msg)
                return
            raise AssertionError("no MemoryError")
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, f"child died with status {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout + proc.stderr
    return proc.stdout


def test_network_too_large_raises_memory_error_in_a_subprocess():
    out = run_child("""
        expect_memory_error(lambda: nn.Network([10**6, 10**6, 1]))               # 8 TB of weights
        expect_memory_error(lambda: nn.Network([2**31 - 1, 2**31 - 1, 2**31 - 1, 1]))   # bytes overflow int64
        expect_memory_error(lambda: nn.Network([1, 40000, 40000, 1]))          # each layer fits, the sum does not
        expect_memory_error(lambda: nn.Network.from_params(
            [(np.broadcast_to(np.float64(0.5), (10**5, 10**5)), np.zeros((10**5, 1))),
             (np.zeros((1, 10**5)), np.zeros((1, 1)))]))
        net = nn.Network([3, 2, 1], seed=0)            # the process is fine afterwards
        X = np.random.randn(3, 4); Y = np.array([[0, 1, 0, 1.0]])
        net.fit(X, Y, learning_rate=0.1, iterations=5)
        assert np.all(np.isfinite(net.predict_proba(X)))
        print("OK")
    """)
    assert out.count("MemoryError:") == 4


def test_fit_workspace_too_large_raises_memory_error_in_a_subprocess():
    out = run_child("""
        for first_layer in ("primal", "gram", "auto"):
            net = nn.Network([2, 60000, 1], seed=0)          # 120k parameters; the workspace for m = 10**6 is ~480 GB
            before = net.params
            X = np.ones((2, 10**6)); Y = np.zeros((1, 10**6))
            expect_memory_error(lambda: net.fit(X, Y, learning_rate=0.1, iterations=1, first_layer=first_layer))
            for (W0, b0), (W1, b1) in zip(before, net.params):
                assert np.array_equal(W0, W1) and np.array_equal(b0, b1)
            # the network is usable: a small fit, predict and cost
            net.fit(X[:, :5], Y[:, :5], learning_rate=0.1, iterations=2, first_layer=first_layer)
            assert net.predict(X[:, :5]).shape == (1, 5) and np.isfinite(net.cost(X[:, :5], Y[:, :5]))
        print("OK")
    """)
    assert out.count("MemoryError:") == 3


def test_gram_matrix_too_large_raises_memory_error_in_a_subprocess():
    # Gram space needs an (m x m) matrix: 8e10 bytes for m = 10**5, far more than the input itself (16 MB)
    run_child("""
        net = nn.Network([10, 1], seed=0)
        X = np.ones((10, 10**5)); Y = np.zeros((1, 10**5))
        expect_memory_error(lambda: net.fit(X, Y, learning_rate=0.1, iterations=1, first_layer="gram"))
        net.fit(X[:, :100], Y[:, :100], learning_rate=0.1, iterations=2, first_layer="gram")
        print("OK")
    """)


@pytest.mark.skipif(UNDER_ASAN, reason="needs an address-space limit, which ASan's shadow memory rules out")
def test_allocation_failure_below_the_machine_limit_is_a_memory_error():
    # A 1.5 GiB address-space limit: the machine has the memory, the process may not take it. Whatever checks
    # the engine makes, the failed allocation must surface as MemoryError and leave the process working.
    run_child("""
        net = nn.Network([2, 3000, 1], seed=0)
        X = np.ones((2, 100000)); Y = np.zeros((1, 100000))       # workspace ~2.4 GB
        expect_memory_error(lambda: net.fit(X, Y, learning_rate=0.1, iterations=1, first_layer="primal"),
                            clear=False)
        expect_memory_error(lambda: nn.Network([20000, 20000, 1]), clear=False)   # 6.4 GB of W, dW
        net.fit(X[:, :10], Y[:, :10], learning_rate=0.1, iterations=2)
        assert net.predict_proba(X).shape == (1, 100000)   # predict works in bounded blocks
        print("OK")
    """, limit_gib=1.5)
