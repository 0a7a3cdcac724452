"""Property-based fuzzing of the public API (hypothesis): random shapes, dtypes, values, layouts, activations and
learning rates. The only outcomes allowed are a correct result (right shape and dtype, finite, equal to
nn.reference where that is cheap) or a documented exception: ValueError, TypeError, MemoryError, and
FloatingPointError for a diverging fit. Input that holds NaN/inf, non-0/1 labels or a non-numeric dtype must
never give a result.

Profiles (env NN_HYPOTHESIS_PROFILE): "ci" (default; derandomized, ~2,400 examples in all, a few seconds),
"sanitize" (NN_SANITIZE_EXAMPLES per test, for the ASan/UBSan job), "explore" (random, 20,000 per test).
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nn
from nn import functional as F
from nn import reference

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                      HealthCheck.data_too_large], print_blob=True)
settings.register_profile("ci", max_examples=600, derandomize=True, **_common)
settings.register_profile("sanitize", max_examples=int(os.environ.get("NN_SANITIZE_EXAMPLES", "30")),
                          derandomize=True, **_common)
settings.register_profile("explore", max_examples=20000, **_common)
PROFILE = os.environ.get("NN_HYPOTHESIS_PROFILE", "ci")

DOCUMENTED = (ValueError, TypeError, MemoryError)
ACTIVATIONS = list(reference.ACTIVATIONS)
DTYPES = ["float64", "float32", "float16", "int8", "int64", "uint8", "bool", "complex128", "object", "str"]
NUMERIC = {"float64", "float32", "float16", "int8", "int64", "uint8", "bool"}
SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 1e38, 65504.0, 0.0, 1.0, -1.0]
LAYOUTS = ["C", "F", "strided", "transposed", "read-only", "reversed"]
LEARNING_RATES = [0.1, 1.0, 1e-8, 3.0, 0.0, -0.5, np.nan, np.inf, 1e10, 1e300, 7]


@st.composite
def arrays(draw, shape, kind="values"):
    """(array in some dtype, layout and value mix; the float64 values it stands for; flags)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.RandomState(seed)
    if kind == "labels":
        base = (rng.rand(*shape) > 0.5).astype(np.float64)
        if draw(st.booleans()) and base.size:
            base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from([2.0, -1.0, 0.5, np.nan, 1 + 1e-9]))
    elif kind == "probabilities":
        base = rng.rand(*shape)
        if draw(st.booleans()) and base.size:
            base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from([0.0, 1.0, 1.5, -0.1, np.nan]))
    else:
        base = rng.randn(*shape) * draw(st.sampled_from([1.0, 1e-3, 10.0, 1e3]))
        for _ in range(draw(st.integers(0, 2))):
            if base.size:
                base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from(SPECIALS))
    dtype = draw(st.sampled_from(DTYPES if kind != "labels" else DTYPES + ["float64"] * 4))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype == "str":
            a = base.astype(str)
        elif dtype == "object":
            a = base.astype(object)
        elif dtype == "bool":
            a = base != 0
        elif dtype in ("int8", "int64", "uint8"):
            a = np.nan_to_num(base, nan=0.0, posinf=0.0, neginf=0.0).round().clip(np.iinfo(dtype).min,
                                                                                 np.iinfo(dtype).max).astype(dtype)
        else:
            a = base.astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    a = _layout(a, layout)
    values = None
    if dtype in NUMERIC or dtype == "complex128":
        with np.errstate(all="ignore"):
            values = np.asarray(a).real.astype(np.float64)
    return a, values, dtype


def _layout(a, layout):
    if a.ndim != 2:
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros((a.shape[0] * 2, a.shape[1] * 2), dtype=a.dtype)
        big[::2, ::2] = a
        return big[::2, ::2]
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "read-only":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "reversed":
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    return np.ascontiguousarray(a)


def valid(values, dtype):
    """Whether an input array is one the API must accept (numeric, finite)."""
    return dtype in NUMERIC and values is not None and bool(np.all(np.isfinite(values)))


def model_dtype(*dtypes):
    return np.float32 if all(d == "float32" for d in dtypes) else np.float64


def representable(values, dtype):
    """Finite after conversion to the computation dtype (1e300 is not a float32)."""
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(values.astype(dtype))))


def moderate(values, limit=1e4):
    return bool(np.all(np.abs(values) <= limit)) and not bool(np.any((values != 0) & (np.abs(values) < 1e-30)))


def call(thunk, extra_allowed=()):
    """(result, None) or (None, documented exception); anything else propagates and fails the test."""
    try:
        with np.errstate(all="ignore"):
            return thunk(), None
    except DOCUMENTED + tuple(extra_allowed) as e:
        assert str(e), f"{type(e).__name__} without a message"
        return None, e


def assert_finite_result(r, shape, dtype):
    assert isinstance(r, np.ndarray), type(r)
    assert r.shape == shape, (r.shape, shape)
    assert r.dtype == dtype, (r.dtype, dtype)
    assert np.all(np.isfinite(r)), r


def close(a, b, dtype, scale=None):
    rtol = 2e-3 if dtype == np.float32 else 1e-9
    scale = max(float(np.max(np.abs(b))) if np.size(b) else 0.0, scale or 0.0, 1e-30)
    err = float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b))) if np.size(b) else 0.0
    assert err <= rtol * scale, f"error {err:.3g} > {rtol:.0e} * {scale:.3g}"


shapes = st.tuples(st.integers(0, 4), st.integers(0, 5))


# ------------------------------------------------------------------ functional

@settings(settings.get_profile(PROFILE))
@given(st.data(), st.integers(0, 4), st.integers(0, 4), st.integers(0, 5), st.sampled_from(ACTIVATIONS + ["gelu", ""]),
       st.sampled_from(["linear_forward", "activation_forward", "activation_backward", "linear_backward", "cost"]))
def test_fuzz_functional(data, n_prev, n, m, act, op):
    A, Av, Ad = data.draw(arrays((n_prev, m)))
    W, Wv, Wd = data.draw(arrays((n, n_prev)))
    if op == "linear_forward":
        b, bv, bd = data.draw(arrays((n, 1)))
        r, e = call(lambda: F.linear_forward(A, W, b))
        ok_in = all(valid(v, d) for v, d in ((Av, Ad), (Wv, Wd), (bv, bd)))
        dt = model_dtype(Ad, Wd, bd)
        must_accept = ok_in and min(n_prev, n, m) > 0 and all(representable(v, dt) for v in (Av, Wv, bv))
        if not ok_in or min(n, m) == 0:
            assert e is not None, "invalid input (non-numeric, NaN/inf, or empty) gave a result"
        if e is None:
            vals = [v.astype(dt).astype(float) for v in (Av, Wv, bv)]
            if all(moderate(v) for v in vals):
                assert_finite_result(r, (n, m), dt)
                close(r, reference.linear_forward(*vals), dt,
                      scale=float(np.abs(vals[1]).max(initial=0) * np.abs(vals[0]).max(initial=0) * max(n_prev, 1)
                                  + np.abs(vals[2]).max(initial=0)))
        elif must_accept:
            raise AssertionError(f"valid input refused: {e!r}")
    elif op in ("activation_forward", "activation_backward"):
        Z, Zv, Zd = data.draw(arrays((n, m)))
        if op == "activation_forward":
            r, e = call(lambda: F.activation_forward(Z, act))
            ins = [(Zv, Zd)]
        else:
            dA, dAv, dAd = data.draw(arrays((n, m)))
            r, e = call(lambda: F.activation_backward(dA, Z, act))
            ins = [(dAv, dAd), (Zv, Zd)]
        ok_in = all(valid(v, d) for v, d in ins)
        if not ok_in or act not in ACTIVATIONS or min(n, m) == 0:
            assert e is not None, "invalid input gave a result"
        if e is None:
            dt = model_dtype(*[d for _, d in ins])
            vals = [v.astype(dt).astype(float) for v, _ in ins]
            if all(np.all(np.isfinite(v)) for v in vals) and all(moderate(v, 1e30) for v in vals):
                assert_finite_result(r, (n, m), dt)
                if op == "activation_forward":
                    close(r, reference.activation_forward(vals[0], act), dt)
                else:
                    close(r, reference.activation_backward(vals[0], vals[1], act), dt,
                          scale=float(np.abs(vals[0]).max(initial=0)))
        elif ok_in and act in ACTIVATIONS and min(n, m) > 0:
            assert isinstance(e, ValueError) and "NaN or infinity" in str(e), f"valid input refused: {e!r}"
    elif op == "linear_backward":
        dZ, dZv, dZd = data.draw(arrays((n, m)))
        r, e = call(lambda: F.linear_backward(dZ, A, W))
        ins = [(dZv, dZd), (Av, Ad), (Wv, Wd)]
        ok_in = all(valid(v, d) for v, d in ins)
        if not ok_in or min(n, m, n_prev) == 0:
            assert e is not None, "invalid input (non-numeric, NaN/inf, or empty) gave a result"
        if e is None:
            dt = model_dtype(dZd, Ad, Wd)
            vals = [v.astype(dt).astype(float) for v, _ in ins]
            if all(moderate(v) for v in vals):
                dA_prev, dW, db = r
                assert_finite_result(dA_prev, (n_prev, m), dt)
                assert_finite_result(dW, (n, n_prev), dt)
                assert_finite_result(db, (n, 1), dt)
                ref = reference.linear_backward(*vals)
                s = float(max(np.abs(v).max(initial=0) for v in vals) ** 2 * max(n, n_prev, 1))
                for got, exp in zip(r, ref):
                    close(got, exp, dt, scale=s)
    else:  # cost
        AL, ALv, ALd = data.draw(arrays((1, m), "probabilities"))
        Y, Yv, Yd = data.draw(arrays((1, m), "labels"))
        r, e = call(lambda: F.cost(AL, Y))
        ok_in = valid(ALv, ALd) and valid(Yv, Yd)
        labels_ok = ok_in and bool(np.all((Yv == 0) | (Yv == 1)))
        probs_ok = ok_in and bool(np.all((ALv >= 0) & (ALv <= 1)))
        if not (labels_ok and probs_ok) or m == 0:
            assert e is not None, "invalid labels/probabilities or m = 0 gave a cost"
        if e is None:
            assert isinstance(r, float)
            dt = model_dtype(ALd, Yd)
            a, y = ALv.astype(dt).astype(float), Yv.astype(float)
            with np.errstate(all="ignore"):
                expected = reference.cost(np.clip(a, 1e-300, 1 - 1e-16), y)
            if np.isfinite(expected) and np.all((a > 1e-12) & (a < 1 - 1e-7)):
                close(r, expected, dt)
            else:
                assert not np.isnan(r), "NaN cost"


# ------------------------------------------------------------------ network

@settings(settings.get_profile(PROFILE))
@given(st.data(), st.integers(1, 4), st.integers(1, 3), st.integers(0, 5), st.sampled_from(ACTIVATIONS + ["bad"]),
       st.sampled_from(["float64", "float32"]), st.sampled_from(LEARNING_RATES), st.integers(-1, 6),
       st.sampled_from(["auto", "primal", "gram"]), st.sampled_from(["fit", "predict_proba", "predict", "cost"]),
       st.booleans())
def test_fuzz_network(data, n_x, n_h, m, hidden, dtype, lr, iterations, first_layer, op, wrong_rows):
    rows = n_x + 1 if wrong_rows else n_x
    X, Xv, Xd = data.draw(arrays((rows, m)))
    Y, Yv, Yd = data.draw(arrays((1, m), "labels"))
    net, e = call(lambda: nn.Network([n_x, n_h, 1], hidden=hidden, seed=0, dtype=dtype))
    if hidden not in ACTIVATIONS:
        assert isinstance(e, ValueError) and "hidden" in str(e)
        return
    assert e is None, e
    dt = np.dtype(dtype)
    before = net.params
    ok_X = valid(Xv, Xd) and not wrong_rows and m > 0 and representable(Xv, dt)
    ok_Y = valid(Yv, Yd) and bool(np.all((Yv == 0) | (Yv == 1)))
    if op == "fit":
        r, e = call(lambda: net.fit(X, Y, learning_rate=lr, iterations=iterations, record_every=2,
                                    first_layer=first_layer), extra_allowed=(FloatingPointError,))
        ok_args = np.isfinite(lr) and lr > 0 and iterations >= 0
        with np.errstate(all="ignore"):
            lr_fits = bool(np.isfinite(dt.type(lr)) and dt.type(lr) > 0) if np.isfinite(lr) else False
        if ok_X and ok_Y and ok_args and not lr_fits and iterations > 0:
            # a learning rate the model's dtype cannot hold: refused, or a divergence at once
            assert e is not None, "a learning rate that overflows the model's dtype was used"
            return
        if not (ok_X and ok_Y and ok_args):
            assert e is not None and not isinstance(e, FloatingPointError), "invalid fit arguments were accepted"
            for (W0, b0), (W1, b1) in zip(before, net.params):   # a refused fit changes nothing
                assert np.array_equal(W0, W1) and np.array_equal(b0, b1)
            return
        if isinstance(e, FloatingPointError):
            assert "iteration" in str(e)
        else:
            assert e is None, f"valid fit refused: {e!r}"
            assert len(r.costs) >= 1 and np.all(np.isfinite(r.costs))
            if moderate(Xv, 1e3) and lr <= 3 and iterations <= 6:
                p0 = [(W.astype(float), b.astype(float)) for W, b in before]
                acts = [hidden, "sigmoid"]
                # the course's cost takes log(0) where an output saturates; such runs are not compared (below)
                with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                    ref, _, costs = reference.train(Xv.astype(dt).astype(float), Yv, p0, acts, float(dt.type(lr)),
                                                    iterations, record_every=2)
                if np.all(np.isfinite(costs)) and all(np.all(np.isfinite(P)) for pr in ref for P in pr):
                    for (W, b), (Wr, br) in zip(net.params, ref):
                        s = 1.0 + float(np.abs(Wr).max())
                        close(W, Wr, dt, scale=s)
                        close(b, br, dt, scale=s)
        for W, b in net.params:
            assert W.dtype == dt and np.all(np.isfinite(W)) and np.all(np.isfinite(b))
        return
    if op == "cost":
        r, e = call(lambda: net.cost(X, Y), extra_allowed=(FloatingPointError,))
        if not (ok_X and ok_Y):
            assert e is not None, "invalid input gave a cost"
        if e is None:
            assert isinstance(r, float) and np.isfinite(r) and r >= 0, r
            if moderate(Xv, 1e3):
                AL, caches = reference.forward(Xv.astype(dt).astype(float), [(W.astype(float), b.astype(float))
                                                                            for W, b in before], [hidden, "linear"])
                Z = AL
                expected = float(np.mean(np.maximum(Z, 0) - Yv * Z + np.log1p(np.exp(-np.abs(Z)))))
                close(r, expected, dt)
        return
    fn = net.predict_proba if op == "predict_proba" else net.predict
    r, e = call(lambda: fn(X), extra_allowed=(FloatingPointError,))
    if not ok_X:
        assert e is not None, "invalid X gave predictions"
    if e is None:
        assert r.shape == (1, m)
        if op == "predict":
            assert r.dtype == np.int64 and set(np.unique(r)) <= {0, 1}
        else:
            assert r.dtype == dt
            assert np.all((r >= 0) & (r <= 1)), f"probabilities outside [0, 1] (NaN?): {r}"
            if moderate(Xv, 1e3):
                expected = reference.forward(Xv.astype(dt).astype(float),
                                             [(W.astype(float), b.astype(float)) for W, b in before],
                                             [hidden, "sigmoid"])[0]
                close(r, expected, dt, scale=1.0)


# ------------------------------------------------------------------ construction and from_params

@settings(settings.get_profile(PROFILE))
@given(st.data(), st.lists(st.one_of(st.integers(-2, 5), st.sampled_from([2.0, "3", None, True, 2**40])),
                           min_size=0, max_size=5),
       st.sampled_from(["small", "xavier", "he", "zeros", "glorot", None]),
       st.sampled_from([np.float64, np.float32, np.float16, np.int32, "float64", object]))
def test_fuzz_construction(data, dims, init, dtype):
    net, e = call(lambda: nn.Network(dims, init=init, seed=1, dtype=dtype))
    good_dims = len(dims) >= 2 and all(type(d) is int and 1 <= d <= 2**31 - 1 for d in dims)
    good_dtype = np.dtype(dtype) in (np.float64, np.float32) if dtype is not object else False
    if not (good_dims and good_dtype and init in ("small", "xavier", "he", "zeros", None)):
        assert e is not None, "invalid construction accepted"
        return
    if isinstance(e, MemoryError):
        return
    assert e is None, e
    params = net.params
    assert [W.shape for W, _ in params] == [(dims[l], dims[l - 1]) for l in range(1, len(dims))]
    if init is not None:
        ref = reference.initialize_parameters(dims, init, seed=1, dtype=np.dtype(dtype))
        for (W, b), (Wr, br) in zip(params, ref):
            assert np.array_equal(W, Wr) and np.array_equal(b, br)
    # from_params of those parameters, possibly damaged
    damage = data.draw(st.sampled_from(["none", "transpose_W", "drop_b", "nan", "complex", "mixed"]))
    ps = [(W.copy(), b.copy()) for W, b in params]
    l = data.draw(st.integers(0, len(ps) - 1))
    if damage == "transpose_W":
        ps[l] = (ps[l][0].T, ps[l][1])
    elif damage == "drop_b":
        ps[l] = (ps[l][0], ps[l][1][:-1])
    elif damage == "nan":
        ps[l][0].flat[0] = np.nan
    elif damage == "complex":
        ps[l] = (ps[l][0].astype(np.complex128), ps[l][1])
    elif damage == "mixed":
        other = np.float32 if np.dtype(dtype) == np.float64 else np.float64
        ps[l] = (ps[l][0].astype(other), ps[l][1])
    net2, e = call(lambda: nn.Network.from_params(ps))
    consistent = (all(W.ndim == 2 and W.size > 0 and b.shape == (W.shape[0], 1) for W, b in ps)
                  and all(ps[k][0].shape[1] == ps[k - 1][0].shape[0] for k in range(1, len(ps))))
    harmless = damage in ("none", "transpose_W") and consistent
    if not harmless:
        assert e is not None, f"from_params accepted damaged parameters ({damage})"
    else:
        assert e is None, e
        for (W, b), (W2, b2) in zip(ps, net2.params):
            assert np.array_equal(W, W2) and np.array_equal(b, b2)
