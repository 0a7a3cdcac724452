"""Comparison helpers shared by the tests."""

import threading

import numpy as np

TINY = np.finfo(np.float64).tiny


def relative_error(actual, expected, scale=0.0):
    """max|actual - expected| / max(max|expected|, scale, tiny), computed in float64."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), scale, TINY))


def assert_close(actual, expected, rtol, what="value", scale=0.0):
    """Assert that `actual` matches `expected` normwise, in the max norm:

        max|actual - expected| <= rtol * max(max|expected|, scale, tiny)

    i.e. the largest error measured against the largest reference entry (so elements that
    cancel to ~0 are judged on the scale of the whole array, as BLAS error bounds are).
    `scale` (default 0) lets a caller state a larger natural scale when the result can be
    much smaller than its inputs (e.g. dZ = dA * g'(Z) with g' computed to absolute accuracy).
    Shapes must be equal; NaN or inf in `actual` fails. The failure message gives the
    measured relative error and the worst element.
    """
    a = np.asarray(actual)
    b = np.asarray(expected)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != expected {b.shape}"
    assert a.size > 0, f"{what}: empty array"
    assert np.all(np.isfinite(a)), f"{what}: non-finite entries in actual: {a!r}"
    err = relative_error(a, b, scale)
    if not err <= rtol:
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        idx = np.unravel_index(np.argmax(diff), diff.shape)
        raise AssertionError(
            f"{what}: relative error {err:.3e} > rtol {rtol:.1e} "
            f"(worst at {idx}: actual {a[idx]!r}, expected {b[idx]!r}; max|expected| = {np.max(np.abs(b)):.6g}"
            + (f", scale = {scale:.6g})" if scale else ")")
        )


def assert_params_close(actual, expected, rtol, what="params"):
    """assert_close on every W and b of two parameter lists [(W, b), ...]."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} layers != expected {len(expected)}"
    for l, ((W, b), (W_ref, b_ref)) in enumerate(zip(actual, expected), start=1):
        assert_close(W, W_ref, rtol, f"{what} W{l}")
        assert_close(b, b_ref, rtol, f"{what} b{l}")


def assert_params_equal(actual, expected, what="params"):
    """Every W and b of two parameter lists [(W, b), ...] equal bit for bit."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} layers != expected {len(expected)}"
    for l, ((W, b), (W_ref, b_ref)) in enumerate(zip(actual, expected), start=1):
        np.testing.assert_array_equal(W, W_ref, err_msg=f"{what} W{l}")
        np.testing.assert_array_equal(b, b_ref, err_msg=f"{what} b{l}")


def run_concurrently(work, items):
    """work(item) for every item, each in its own thread, all at once; re-raises the first exception."""
    errors = []

    def run(item):
        try:
            work(item)
        except BaseException as e:  # reported in the calling thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def assert_concurrent_fits_match_alone(nets, fit, rounds=3):
    """Runs fit(net) `rounds` times on nets[0] alone, then on every other network at once, each in its own
    thread; all must end with nets[0]'s parameters bit for bit (each fit goes on from where the last stopped,
    so the networks must start equal)."""
    def fits(net):
        for _ in range(rounds):
            fit(net)

    fits(nets[0])
    run_concurrently(fits, nets[1:])
    for k, net in enumerate(nets[1:], start=1):
        assert_params_equal(net.params, nets[0].params, f"network {k}, concurrent against alone")


def assert_published(actual, expected, decimals, what="value"):
    """A value printed with `decimals` decimals holds to half a unit in the last place: 0.5 * 10**-decimals."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != published {b.shape}"
    atol = 0.5 * 10.0 ** -decimals
    err = float(np.max(np.abs(a - b)))
    assert err <= atol, f"{what}: max abs error {err:.3e} > {atol:.0e}\nactual    {a!r}\npublished {b!r}"


def assert_float32_fit_matches_reference(net, X, Y, activations, learning_rate, iterations, what):
    """Fits the float32 `net` on (X, Y), recording every iteration, and compares it with nn.reference in float64
    from the same start: costs and parameters to 1e-5 normwise (a few hundred float32 roundings per value, as
    in test_network_parity). Returns the network's train_settings_."""
    from nn import reference

    start64 = [(W.astype(np.float64), b.astype(np.float64)) for W, b in net.params]
    ref_params, _, ref_costs = reference.train(X.astype(np.float64), Y.astype(np.float64), start64, activations,
                                               learning_rate, iterations, record_every=1)
    hist = net.fit(X, Y, learning_rate=learning_rate, iterations=iterations, record_every=1)
    assert_close(hist.costs, ref_costs, 1e-5, f"{what}: costs")
    assert_params_close(net.params, ref_params, 1e-5, f"{what}: params")
    return net.train_settings_


def fits_on_two_threads_and_one(blas_threads, start, hidden, X, Y, learning_rate, iterations):
    """The same fit from the parameters `start`, with OpenBLAS allowing two threads, then one: (two, one)."""
    import nn

    nets = []
    for threads in (2, 1):
        blas_threads(threads)
        net = nn.Network.from_params(start, hidden=hidden)
        net.fit(X, Y, learning_rate=learning_rate, iterations=iterations)
        nets.append(net)
    return tuple(nets)


def assert_divergence_keeps_the_last_finite_parameters(make, X, Y, learning_rate, record_every, iterations=200):
    """Fits make() at a rate that overflows; the fit must raise FloatingPointError naming an iteration k in
    [2, iterations), and keep, bit for bit, the parameters of a fresh fit of k - 1 iterations. Returns (the
    network, the error's message)."""
    import re

    import pytest

    net = make()
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, learning_rate=learning_rate, iterations=iterations, record_every=record_every)
    k = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    assert 2 <= k < iterations, str(info.value)
    fresh = make()
    fresh.fit(X, Y, learning_rate=learning_rate, iterations=k - 1, record_every=min(record_every, k - 1))
    assert_params_equal(net.params, fresh.params, "kept against a fresh fit of k - 1 iterations")
    return net, str(info.value)
