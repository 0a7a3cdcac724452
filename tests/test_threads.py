"""Interruption, callbacks and threads: Ctrl-C, exceptions from callbacks, the GIL, concurrent networks,
one network shared by threads, and run-to-run reproducibility."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import nn
from nn import _core


def data(n_x, m, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_x, m).astype(dtype)
    Y = (rng.rand(1, m) > 0.5).astype(dtype)
    return X, Y


def params_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(W1, W2) and np.array_equal(b1, b2)
                                    for (W1, b1), (W2, b2) in zip(a, b))


def digest(params):
    h = hashlib.sha256()
    for W, b in params:
        h.update(np.ascontiguousarray(W).tobytes())
        h.update(np.ascontiguousarray(b).tobytes())
    return h.hexdigest()


def run_python(code, timeout=120, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


# ------------------------------------------------------------------ Ctrl-C

# Each child that expects a KeyboardInterrupt installs Python's handler first: Python keeps SIGINT ignored when
# it starts with SIGINT ignored, as every background job of a non-interactive shell does, and these tests then
# hung until their timeout (CI started as `(... &)`). A terminal's Ctrl-C reaches that handler anyway.
DEFAULT_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"

SIGINT_CHILD = DEFAULT_SIGINT + """
import sys, time
import numpy as np, nn
first_layer = sys.argv[1]
rng = np.random.RandomState(0)
if first_layer == "narrow team":  # planar's narrow layers on a team of threads (Network::train_narrow_team)
    first_layer = "primal"
    m = 100000
    X = rng.randn(2, m); Y = (rng.rand(1, m) > 0.5).astype(float)
    make = lambda: nn.Network([2, 4, 1], hidden="tanh", seed=3)
else:
    m = 1500
    X = rng.randn(200, m); Y = (rng.rand(1, m) > 0.5).astype(float)
    make = lambda: nn.Network([200, 100, 50, 1], hidden="tanh", seed=3)
probe = make()
probe.fit(X, Y, learning_rate=1e-3, iterations=1, first_layer=first_layer)
print("SLICES", probe.train_settings_["example_slices"], flush=True)
net = make()
print("READY", flush=True)
try:
    net.fit(X, Y, learning_rate=1e-3, iterations=10**8, record_every=10**8, first_layer=first_layer)
    print("fit returned without KeyboardInterrupt", flush=True)
    sys.exit(3)
except KeyboardInterrupt:
    t = time.monotonic()
print("CAUGHT", repr(t), flush=True)
# the network is usable: predict, cost, a short fit
P = net.predict_proba(X)
assert P.shape == (1, m) and np.all(np.isfinite(P)), "predict_proba after Ctrl-C"
assert set(np.unique(net.predict(X))) <= {0, 1}
assert np.isfinite(net.cost(X, Y)), "cost after Ctrl-C"
kept = net.params
assert all(np.all(np.isfinite(W)) and np.all(np.isfinite(b)) for W, b in kept)
if first_layer == "primal":
    # the parameters are those of a completed iteration: find it by stepping a fresh network one at a time
    fresh = make()
    for n in range(0, 20000):
        if all(np.array_equal(W, W2) and np.array_equal(b, b2) for (W, b), (W2, b2) in zip(kept, fresh.params)):
            print("completed iterations:", n)
            break
        fresh.fit(X, Y, learning_rate=1e-3, iterations=1, first_layer="primal")
    else:
        raise AssertionError("the parameters after Ctrl-C are not those of any completed iteration")
net.fit(X[:, :50], Y[:, :50], learning_rate=1e-3, iterations=3)
print("OK", flush=True)
"""


@pytest.mark.parametrize("first_layer", ["primal", "gram", "narrow team"])
def test_sigint_interrupts_fit_promptly_and_leaves_network_usable(first_layer):
    # the narrow team needs two threads; the others keep to one
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2" if first_layer == "narrow team" else "1")
    proc = subprocess.Popen([sys.executable, "-c", SIGINT_CHILD, first_layer], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        slices = proc.stdout.readline().split()
        line = proc.stdout.readline()
        assert line.strip() == "READY", line + proc.stderr.read()
        time.sleep(0.7)                      # well inside the fit (it would run for hours)
        sent = time.monotonic()              # CLOCK_MONOTONIC: the same clock in parent and child on Linux
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"status {proc.returncode}\n{line}{out}\n{err}"
    caught = [l for l in out.splitlines() if l.startswith("CAUGHT")]
    assert caught, out
    latency = float(caught[0].split()[1]) - sent
    assert 0 <= latency < 1.0, f"KeyboardInterrupt {latency:.3f} s after SIGINT"
    assert out.rstrip().endswith("OK"), out + err
    if first_layer != "gram":
        assert "completed iterations:" in out
    teamed = first_layer == "narrow team" and _core.narrow_layers_supported()
    assert slices == ["SLICES", "2" if teamed else "1"]


def test_sigint_during_predict_and_after_fit_is_not_swallowed():
    # A KeyboardInterrupt that arrives while no training runs must surface normally (not be lost or
    # re-raised later inside an unrelated fit).
    out = run_python(DEFAULT_SIGINT + textwrap.dedent("""
        import os, signal, numpy as np, nn
        X = np.random.RandomState(0).randn(5, 20); Y = (X[:1] > 0).astype(float)
        net = nn.Network([5, 3, 1], seed=0)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            net.predict_proba(X)
            for _ in range(1000):        # the interpreter runs the handler at the next bytecode boundary
                pass
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted")
        net.fit(X, Y, learning_rate=0.1, iterations=50, record_every=10)     # no stale interrupt here
        print("OK")
    """))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["interrupted", "OK"], out.stdout + out.stderr


# ------------------------------------------------------------------ callbacks

class CallbackError(Exception):
    pass


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("exc_type", [CallbackError, ValueError, KeyboardInterrupt, StopIteration])
def test_callback_exception_propagates_unchanged(exc_type, first_layer):
    X, Y = data(4, 30)
    net = nn.Network([4, 3, 1], seed=0)
    error = exc_type("from the callback")
    calls = []

    def callback(i, cost):
        calls.append(i)
        if i == 20:
            raise error

    with pytest.raises(exc_type) as info:
        net.fit(X, Y, learning_rate=0.1, iterations=100, record_every=10, callback=callback,
                first_layer=first_layer)
    assert info.value is error
    assert info.value.__cause__ is None
    assert calls == [0, 10, 20]
    # the callback for iteration i sees the network at iteration i, and the network stays there: the same
    # parameters, bit for bit, as 20 iterations from the start
    fresh = nn.Network([4, 3, 1], seed=0)
    fresh.fit(X, Y, learning_rate=0.1, iterations=20, record_every=10, first_layer=first_layer)
    assert params_equal(net.params, fresh.params)
    np.testing.assert_allclose(net.predict_proba(X), fresh.predict_proba(X), rtol=1e-12)
    net.fit(X, Y, learning_rate=0.1, iterations=5)


def test_callback_returning_false_stops_and_other_values_continue():
    X, Y = data(4, 30)
    net = nn.Network([4, 3, 1], seed=0)
    hist = net.fit(X, Y, learning_rate=0.1, iterations=100, record_every=10, callback=lambda i, c: i < 30)
    assert list(hist.iterations) == [0, 10, 20, 30]
    np.testing.assert_allclose(hist.costs[-1], net.cost(X, Y), rtol=1e-12)  # stopped at iteration 30
    hist = net.fit(X, Y, learning_rate=0.1, iterations=30, record_every=10, callback=lambda i, c: 0)
    assert list(hist.iterations) == [0, 10, 20, 30]


def test_callback_may_use_the_network():
    # cost/params inside the callback: no deadlock on the network's own lock, and (Gram first layer) the
    # parameters handed out are the current ones, consistent with the network's own cost
    X, Y = data(4, 30)
    net = nn.Network([4, 3, 1], seed=0)
    seen = []
    net.fit(X, Y, learning_rate=0.1, iterations=30, record_every=10, first_layer="gram",
            callback=lambda i, c: seen.append((net.cost(X, Y), net.params)))
    assert len(seen) == 4  # iterations 0, 10, 20 and after the last (30)
    for cost, params in seen:
        np.testing.assert_allclose(cost, nn.Network.from_params(params).cost(X, Y), rtol=1e-12)
    assert not params_equal(seen[0][1], seen[2][1])


# ------------------------------------------------------------------ the GIL

def _count_while(work):
    """Run work() in this thread while another thread counts; return (count during work, baseline rate)."""
    counter = [0]
    stop = threading.Event()

    def count():
        n = 0
        while not stop.is_set():
            n += 1
            counter[0] = n

    t = threading.Thread(target=count)
    t.start()
    try:
        time.sleep(0.2)
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.3)                                 # the counter alone (this thread sleeps)
        rate = (counter[0] - c0) / (time.perf_counter() - t0)
        c1, t1 = counter[0], time.perf_counter()
        work()
        during, seconds = counter[0] - c1, time.perf_counter() - t1
    finally:
        stop.set()
        t.join()
    return during, rate * seconds, seconds


@pytest.fixture
def one_blas_thread():
    n = _core.blas_get_num_threads()
    _core.blas_set_num_threads(1)
    yield
    _core.blas_set_num_threads(n)


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
def test_fit_releases_the_gil(one_blas_thread, first_layer):
    X, Y = data(300, 400)
    net = nn.Network([300, 100, 50, 1], hidden="relu", seed=0)
    # one record point: the whole fit is one call into the core
    work = lambda: net.fit(X, Y, learning_rate=1e-3, iterations=400, record_every=10**6,  # noqa: E731
                           first_layer=first_layer)
    during, expected, seconds = _count_while(work)
    assert seconds > 0.2, "the fit must take long enough to measure"
    # with the GIL held for the whole fit the counter would not move at all; released, it runs nearly freely
    assert during > 0.25 * expected, f"counter advanced {during} while {expected:.0f} expected over {seconds:.2f} s"


def test_predict_and_cost_release_the_gil(one_blas_thread):
    X, Y = data(400, 60000)
    net = nn.Network([400, 200, 1], hidden="tanh", seed=0)

    def work():
        for _ in range(2):
            net.predict_proba(X)
            net.cost(X, Y)

    during, expected, seconds = _count_while(work)
    assert seconds > 0.2
    assert during > 0.25 * expected, f"counter advanced {during} while {expected:.0f} expected over {seconds:.2f} s"


# ------------------------------------------------------------------ separate networks in parallel threads

TASKS = [  # (layer dims, hidden, dtype, first layer, seed)
    ([30, 20, 10, 1], "relu", np.float64, "primal", 1),
    ([30, 20, 10, 1], "tanh", np.float32, "primal", 2),
    ([30, 16, 1], "leaky_relu", np.float64, "gram", 3),
    ([30, 8, 8, 1], "sigmoid", np.float32, "gram", 4),
    ([30, 1], "relu", np.float64, "primal", 5),
    ([30, 40, 1], "linear", np.float64, "auto", 6),
]


def _train(task, out, k):
    dims, hidden, dtype, first_layer, seed = task
    X, Y = data(dims[0], 120, seed=seed, dtype=dtype)
    net = nn.Network(dims, hidden=hidden, seed=seed, dtype=dtype)
    hist = net.fit(X, Y, learning_rate=0.05, iterations=300, record_every=7, first_layer=first_layer)
    out[k] = (net.params, hist.costs.copy(), net.predict_proba(X))


def test_parallel_networks_match_sequential_bit_for_bit():
    sequential = [None] * len(TASKS)
    for k, task in enumerate(TASKS):
        _train(task, sequential, k)
    for _ in range(3):
        parallel = [None] * len(TASKS)
        barrier = threading.Barrier(len(TASKS))

        def run(k):
            barrier.wait()
            _train(TASKS[k], parallel, k)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(TASKS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in range(len(TASKS)):
            assert parallel[k] is not None, f"task {k} failed in its thread"
            p, c, a = parallel[k]
            ps, cs, as_ = sequential[k]
            assert params_equal(p, ps), f"task {k}: parameters differ from the sequential run"
            np.testing.assert_array_equal(c, cs, err_msg=f"task {k}: costs")
            np.testing.assert_array_equal(a, as_, err_msg=f"task {k}: predictions")


# ------------------------------------------------------------------ one network, two threads

def _shared_fits(first_layer, record_every):
    X1, Y1 = data(20, 80, seed=1)
    X2, Y2 = data(20, 50, seed=2)
    jobs = [(X1, Y1, 0.05), (X2, Y2, 0.2)]

    def fresh():
        return nn.Network([20, 12, 6, 1], hidden="tanh", seed=9)

    def fit(net, job):
        X, Y, lr = job
        return net.fit(X, Y, learning_rate=lr, iterations=200, record_every=record_every, first_layer=first_layer)

    orders = {}
    for order in ((0, 1), (1, 0)):
        net = fresh()
        for j in order:
            fit(net, jobs[j])
        orders[order] = net.params
    return fresh, fit, jobs, orders


@pytest.mark.parametrize("first_layer", ["primal", "gram"])
@pytest.mark.parametrize("record_every", [1, 50])
def test_one_network_two_fits_at_once_are_serialised(first_layer, record_every):
    fresh, fit, jobs, orders = _shared_fits(first_layer, record_every)
    assert not params_equal(orders[(0, 1)], orders[(1, 0)])
    for trial in range(5):
        net = fresh()
        errors = []
        barrier = threading.Barrier(2)

        def run(j):
            barrier.wait()
            try:
                fit(net, jobs[j])
            except Exception as e:       # a clear refusal is allowed; it is checked below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(j,)) for j in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            # refused: with a clear error, and the other fit's result intact
            assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors
            assert "another thread" in str(errors[0]) or "already" in str(errors[0]), errors[0]
            singles = []
            for j in (0, 1):
                n = fresh()
                fit(n, jobs[j])
                singles.append(n.params)
            assert any(params_equal(net.params, s) for s in singles), f"trial {trial}: corrupted after refusal"
        else:
            assert any(params_equal(net.params, p) for p in orders.values()), (
                f"trial {trial}: two fits at once on one network gave parameters of neither sequential order")


def test_predict_while_another_thread_fits_sees_consistent_parameters():
    X, Y = data(20, 80, seed=1)
    net = nn.Network([20, 12, 1], hidden="relu", seed=9)
    # every state a reader may see is the network after some number of completed iterations
    states = {}
    probe = nn.Network([20, 12, 1], hidden="relu", seed=9)
    for n in range(0, 301):
        states[probe.predict_proba(X).tobytes()] = n
        probe.fit(X, Y, learning_rate=0.05, iterations=1, first_layer="primal")
    stop = threading.Event()
    seen, errors = [], []

    def reader():
        while not stop.is_set():
            try:
                seen.append(net.predict_proba(X).tobytes())
            except Exception as e:
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        net.fit(X, Y, learning_rate=0.05, iterations=300, record_every=1, first_layer="primal")
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    assert seen
    unknown = [s for s in seen if s not in states]
    assert not unknown, f"{len(unknown)} of {len(seen)} predictions match no completed iteration"


# ------------------------------------------------------------------ reproducibility

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("first_layer", ["primal", "gram"])
def test_same_seed_same_bits_in_process(dtype, first_layer):
    X, Y = data(40, 300, seed=3, dtype=dtype)
    runs = []
    for _ in range(3):
        net = nn.Network([40, 30, 20, 1], hidden="relu", seed=5, dtype=dtype)
        hist = net.fit(X, Y, learning_rate=0.05, iterations=100, record_every=9, first_layer=first_layer)
        runs.append((digest(net.params), hist.costs.tobytes(), net.predict_proba(X).tobytes()))
    assert runs[0] == runs[1] == runs[2]


DETERMINISM_CHILD = """
import hashlib, numpy as np, nn
rng = np.random.RandomState(3)
X = rng.randn(120, 700); Y = (rng.rand(1, 700) > 0.5).astype(float)
h = hashlib.sha256()
for dtype in (np.float64, np.float32):
    for first_layer in ("primal", "gram"):
        net = nn.Network([120, 64, 32, 1], hidden="tanh", seed=5, dtype=dtype)
        hist = net.fit(X, Y, learning_rate=0.05, iterations=60, record_every=7, first_layer=first_layer)
        for W, b in net.params:
            h.update(W.tobytes()); h.update(b.tobytes())
        h.update(hist.costs.tobytes()); h.update(net.predict_proba(X).tobytes())
print(h.hexdigest())
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_same_seed_same_bits_across_processes(threads):
    outs = []
    for _ in range(3):
        proc = run_python(DETERMINISM_CHILD, env={"OPENBLAS_NUM_THREADS": threads})
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.strip())
    assert len(outs[0]) == 64 and outs[0] == outs[1] == outs[2], outs
