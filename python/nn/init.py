"""Initial weights, drawn exactly as the course's NumPy code draws them.

`np.random.RandomState(seed).randn(n[l], n[l-1])` layer after layer, so a seed reproduces what
`np.random.seed(seed)` followed by the same `np.random.randn` calls gives; b starts at zero.
"""
import numpy as np

from ._validation import INITS, check_name


def initialize_parameters(layer_dims, init="xavier", seed=None, dtype=np.float64):
    """[(W1, b1), ..., (WL, bL)] with W[l] (n[l], n[l-1]) and b[l] (n[l], 1), in `dtype`."""
    check_name(init, "init", INITS)
    rng = _random_state(seed)
    params = []
    for n_prev, n in zip(layer_dims[:-1], layer_dims[1:]):
        if init == "zeros":
            W = np.zeros((n, n_prev))
        elif init == "small":
            W = rng.randn(n, n_prev) * 0.01
        elif init == "xavier":
            W = rng.randn(n, n_prev) / np.sqrt(n_prev)
        else:  # he
            W = rng.randn(n, n_prev) * np.sqrt(2 / n_prev)
        params.append((W.astype(dtype, copy=False), np.zeros((n, 1), dtype=dtype)))
    return params


def _random_state(seed):
    if isinstance(seed, np.random.RandomState):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32):
        raise ValueError(f"seed: expected None, an integer in [0, 2**32) or a np.random.RandomState, got {seed!r}")
    return np.random.RandomState(seed)
