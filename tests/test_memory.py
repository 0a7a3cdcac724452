"""No leaks: 1,000 repeated fit/predict/save/load cycles leave resident memory flat (a generous bound)."""

import gc
import os
import sys
import tempfile

import numpy as np
import pytest

import nn
from nn import functional as F

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cycle(k, X, Y, path):
    first_layer = ("primal", "gram")[k % 2]
    dtype = (np.float64, np.float32)[(k // 2) % 2]
    net = nn.Network([8, 16, 8, 1], hidden="relu", seed=k, dtype=dtype)
    net.fit(X, Y, learning_rate=0.05, iterations=5, record_every=2, first_layer=first_layer)
    net.predict(X)
    net.cost(X, Y)
    net.save(path, overwrite=True)
    back = nn.load(path)
    back.predict_proba(X)
    # rejected input on the way (exceptions from the core and from validation must not leak either)
    try:
        net.fit(X, 2 * Y, iterations=1)
    except ValueError:
        pass
    try:
        net.fit(X, Y, learning_rate=1e300 if dtype == np.float64 else 1e38, iterations=50, record_every=50)
    except FloatingPointError:
        pass
    AL, caches = F.forward(X, net.params, net.activations)
    F.update(net.params, F.backward(AL, Y, caches, net.activations), 0.1)


def test_repeated_cycles_do_not_grow_resident_memory(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.randn(8, 64)
    Y = (rng.rand(1, 64) > 0.5).astype(np.float64)
    # a RAM file system when there is one: the cycles measure memory, not fsync on a disk
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    work = tempfile.TemporaryDirectory(dir=shm) if shm else None
    path = os.path.join(work.name, "m.npz") if work else tmp_path / "m.npz"
    for k in range(50):                  # warm-up: caches, allocator pools, lazily imported modules
        cycle(k, X, Y, path)
    gc.collect()
    before = rss_bytes()
    samples = []
    for k in range(1000):
        cycle(k, X, Y, path)
        if k % 100 == 99:
            gc.collect()
            samples.append(rss_bytes() - before)
    if work:
        work.cleanup()
    growth = samples[-1]
    assert growth < 20 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MiB over 1000 cycles: {samples}"


def test_memory_check_detects_a_leak():
    # the measurement itself can fail: 40 MB kept alive (fresh pages, touched) shows up above the bound
    before = rss_bytes()
    kept = np.ones(5 * 2**20)
    assert rss_bytes() - before > 20 * 2**20
    del kept
