"""Checks at the boundary: every public entry point validates here once, so the C++ core can trust its input.

Messages name the argument and say what was expected. Arrays are converted only when they must be
(wrong dtype, or neither C- nor F-contiguous); a contiguous array of the right dtype passes through as is.
"""
import math
import os
import numbers
from typing import Optional

import numpy as np

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
INITS = ("small", "xavier", "he", "zeros")
# The core's BLAS takes 32-bit dimensions.
MAX_DIM = 2**31 - 1


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected np.float64 or np.float32, got {dtype!r}") from None
    if dt not in DTYPES:
        raise TypeError(f"dtype: expected np.float64 or np.float32, got {dt}")
    return dt


def check_name(value, name: str, valid) -> str:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"{name}: unknown value {value!r}; expected one of {', '.join(repr(v) for v in valid)}")
    return value


def check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_positive_float(value, name: str, dtype: np.dtype = np.dtype(np.float64)) -> float:
    """A finite number > 0 that stays finite and > 0 in `dtype` (1e100 is not a float32 learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value}")
    with np.errstate(over="ignore", under="ignore"):
        narrowed = dtype.type(value)
    if not np.isfinite(narrowed) or narrowed <= 0:
        raise ValueError(f"{name}: {value} is not a finite positive {dtype.name} number")
    return value


def check_layer_dims(layer_dims) -> tuple:
    if isinstance(layer_dims, (str, bytes)) or not hasattr(layer_dims, "__len__"):
        raise TypeError(f"layer_dims: expected a list of layer sizes like [n_x, n_1, ..., 1], got {layer_dims!r}")
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(f"layer_dims: expected at least two sizes (input and output), got {dims}")
    for l, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"layer_dims[{l}]: expected an integer size, got {n!r}")
        if not 0 < n <= MAX_DIM:
            raise ValueError(f"layer_dims[{l}]: expected a size between 1 and {MAX_DIM}, got {n}")
    return tuple(int(n) for n in dims)


def common_dtype(*arrays) -> np.dtype:
    """float32 when every array already is float32, float64 otherwise (NumPy's promotion for floats)."""
    kinds = [np.asarray(a).dtype if not hasattr(a, "dtype") else a.dtype for a in arrays]
    return np.dtype(np.float32) if all(k == np.float32 for k in kinds) else np.dtype(np.float64)


def as_matrix(a, name: str, dtype: np.dtype, shape_hint: str = "", finite: bool = True) -> np.ndarray:
    """A 2-D, C- or F-contiguous array of `dtype`; copies only when the dtype or the layout forces it."""
    arr = a if isinstance(a, np.ndarray) else _asarray(a, name)
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = f" of shape {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name}: expected a 2-D array{hint}, got {arr.ndim}-D shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name}: expected a non-empty array (every dimension >= 1, so m >= 1 examples), "
                         f"got shape {arr.shape}")
    if any(n > MAX_DIM for n in arr.shape):
        raise ValueError(f"{name}: dimensions above {MAX_DIM} are not supported, got shape {arr.shape}")
    if arr.dtype != dtype:
        # (a float64 value too large for float32 becomes inf here, and check_finite below names it)
        arr = arr.astype(dtype, order="F" if _is_f_only(arr) else "C")
    elif not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    if finite:
        check_finite(arr, name)
    return arr


def _asarray(a, name: str) -> np.ndarray:
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:  # e.g. ragged nested lists
        raise ValueError(f"{name}: cannot be read as a 2-D numeric array ({e})") from None


def _is_f_only(arr: np.ndarray) -> bool:
    return arr.flags.f_contiguous and not arr.flags.c_contiguous


def check_finite(arr: np.ndarray, name: str) -> None:
    # One reduction instead of an isfinite() temporary the size of the array; only a non-finite sum
    # (NaN/inf present, or an overflow of huge finite values) pays for the exact elementwise check.
    if arr.size == 0:
        return
    total = np.add.reduce(arr, axis=None, dtype=np.float64)
    if not math.isfinite(total) and not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinity")


def check_labels(Y: np.ndarray, name: str = "Y") -> None:
    if not np.all((Y == 0) | (Y == 1)):
        bad = Y[(Y != 0) & (Y != 1)].ravel()[:3]
        raise ValueError(f"{name}: labels must be 0 or 1, found {', '.join(repr(float(v)) for v in bad)}")


def check_X(X, n_x: int, dtype: np.dtype) -> np.ndarray:
    X = as_matrix(X, "X", dtype, shape_hint=f"(n_x, m) = ({n_x}, m)")
    if X.shape[0] != n_x:
        raise ValueError(
            f"X: expected {n_x} rows (features, one column per example), got shape {X.shape}"
            + ("; did you pass X transposed (m, n_x)?" if X.shape[1] == n_x else "")
        )
    if X.shape[1] == 0:
        raise ValueError("X: expected at least one example (m >= 1), got shape " + str(X.shape))
    return X


def check_Y(Y, m: int, n_y: int, dtype: np.dtype, labels: bool = True) -> np.ndarray:
    arr = Y if isinstance(Y, np.ndarray) else _asarray(Y, "Y")
    if arr.ndim == 1 and n_y == 1:
        arr = arr.reshape(1, -1)  # a view: (m,) is read as the course's (1, m)
    Y = as_matrix(arr, "Y", dtype, shape_hint=f"({n_y}, m)")
    if Y.shape[0] != n_y:
        raise ValueError(f"Y: expected {n_y} row(s) of labels, shape ({n_y}, m), got shape {Y.shape}")
    if Y.shape[1] != m:
        raise ValueError(f"Y: expected {m} examples to match X, got shape {Y.shape}")
    if not Y.flags.c_contiguous:
        Y = np.ascontiguousarray(Y)
    if labels:
        check_labels(Y)
    return Y


def check_activations(n_layers: int, hidden: str, activations: Optional[list], output: str) -> tuple:
    if activations is None:
        check_name(hidden, "hidden", ACTIVATIONS)
        check_name(output, "output", ("sigmoid",))
        return tuple([hidden] * (n_layers - 1) + [output])
    if isinstance(activations, str) or not hasattr(activations, "__len__"):
        raise TypeError(f"activations: expected a list of names, one per layer, got {activations!r}")
    acts = list(activations)
    if len(acts) != n_layers:
        raise ValueError(f"activations: expected {n_layers} names (one per layer), got {len(acts)}")
    for l, a in enumerate(acts):
        check_name(a, f"activations[{l}]", ACTIVATIONS)
    if acts[-1] != "sigmoid":
        raise ValueError(f"activations: the output layer must be 'sigmoid' (binary cross-entropy), got {acts[-1]!r}")
    return tuple(acts)


def available_memory() -> int:
    """Bytes the system can still give us (MemAvailable on Linux; total physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63


def check_memory(nbytes: int, what: str) -> None:
    """MemoryError before an allocation that cannot fit: with overcommit, a too-large allocation may
    'succeed' and the process be killed when the memory is touched, so ask first."""
    available = available_memory()
    if nbytes > available:
        raise MemoryError(f"{what} needs {_gib(nbytes)} of memory, but only {_gib(available)} is available")


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.3g} GiB"
