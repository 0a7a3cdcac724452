"""Data in: the course's planar "flower" data set, and .h5 / .npz / .csv files in course layout.

Everything returned is in course layout: X (n_x, m), one column per example, and Y (1, m) float64 of 0/1.
Loading only rearranges; it never changes values: uint8 images stay uint8 (flattened to (h*w*c, m)) so
that the caller decides on, and records, any scaling (see nn.preprocessing).
"""

import csv
import os

import numpy as np

__all__ = ["planar", "load", "train_test_split"]


def planar(m=400, seed=1):
    """The planar "flower" data set of the course: X (2, m) float64, Y (1, m) float64 of 0/1.

    N = m/2 points per class, a = 4; for class j: t = linspace(3.12 j, 3.12 (j+1), N) + 0.2 randn(N),
    r = a sin(4t) + 0.2 randn(N), points (r sin t, r cos t). A private RandomState(seed) draws the same
    numbers as the course's np.random.seed(seed) without touching NumPy's global state.
    """
    if int(m) != m or m < 2 or m % 2:
        raise ValueError(f"m must be an even integer >= 2; got {m!r}")
    m = int(m)
    rng = np.random.RandomState(seed)
    N = m // 2
    a = 4
    X = np.zeros((2, m))
    Y = np.zeros((1, m))
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(3.12 * j, 3.12 * (j + 1), N) + rng.randn(N) * 0.2
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2
        X[0, ix] = r * np.sin(t)
        X[1, ix] = r * np.cos(t)
        Y[0, ix] = j
    return X, Y


def train_test_split(X, Y, test_fraction=0.2, seed=1):
    """Shuffle the columns with RandomState(seed) and split: X_train, X_test, Y_train, Y_test.

    The test set gets round(m * test_fraction) examples (at least one of each side when m >= 2).
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"X must be (n_x, m) and Y (1, m); got X {X.shape} and Y {Y.shape}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    m = X.shape[1]
    if m < 2:
        raise ValueError(f"need at least 2 examples to split; got {m}")
    m_test = min(max(int(round(m * test_fraction)), 1), m - 1)
    perm = np.random.RandomState(seed).permutation(m)
    test, train = perm[:m_test], perm[m_test:]
    return X[:, train], X[:, test], Y[:, train], Y[:, test]


def load(path, rows=False, labels=True, n_x=None):
    """Load a data set from .h5, .npz or .csv; returns X (n_x, m), Y (1, m) float64 or None, class names or None.

    .h5   course cat / non-cat layout: one dataset whose name ends in "_x" (images (m, h, w, c) or
          rows (m, n)), one ending in "_y" (labels (m,) or (1, m)), optionally "list_classes".
    .npz  arrays "X" and "Y"; X is (n_x, m) (course layout) unless rows=True, then (m, n_x);
          an X with more than two axes is a stack of images (m, h, w, c).
    .csv  one example per row, label last; a header row is optional.
    labels: True requires labels, False ignores them, None takes them when present (for .csv that needs
    n_x, the number of features: n_x + 1 columns means the last column is the label).
    Raises FileNotFoundError for a missing file and ValueError for anything malformed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".h5", ".hdf5"):
        X, Y, classes = _load_h5(path, labels)
    elif ext == ".npz":
        X, Y, classes = _load_npz(path, rows, labels)
    elif ext == ".csv":
        X, Y, classes = _load_csv(path, labels, n_x)
    else:
        raise ValueError(f"{path}: unknown data format {ext or '(no extension)'!r}; use .h5, .npz or .csv")
    return _validate(path, X, Y, classes, rows)


def _load_h5(path, labels):
    h5py = _import_h5py()
    try:
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
            x_keys = [k for k in keys if k.endswith("_x")]
            y_keys = [k for k in keys if k.endswith("_y")]
            if len(x_keys) != 1:
                raise ValueError(f"{path}: expected one dataset named '*_x', found {_names(x_keys)} "
                                 f"among {_names(keys)}")
            X = _examples_first(f[x_keys[0]][()])
            Y = None
            if labels is not False:
                if len(y_keys) > 1 or (labels and not y_keys):
                    raise ValueError(f"{path}: expected one dataset named '*_y', found {_names(y_keys)} "
                                     f"among {_names(keys)}")
                if y_keys:
                    Y = f[y_keys[0]][()]
            classes = None
            if "list_classes" in f:
                classes = [c.decode() if isinstance(c, bytes) else str(c) for c in f["list_classes"][()]]
    except OSError as e:               # h5py reports a non-HDF5 or damaged file as OSError
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
    return X, Y, classes


def _import_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError('reading .h5 files needs h5py: pip install "nn[h5]"') from None
    return h5py


def _load_npz(path, rows, labels):
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.files)
            if "X" not in keys:
                raise ValueError(f"{path}: expected arrays 'X' and 'Y', found {_names(keys)}")
            if labels and "Y" not in keys:
                raise ValueError(f"{path}: expected arrays 'X' and 'Y', found {_names(keys)}")
            unknown = sorted(set(keys) - {"X", "Y", "classes"})
            if unknown:
                raise ValueError(f"{path}: unknown arrays {_names(unknown)}; expected 'X', 'Y' (and 'classes')")
            X = f["X"]
            Y = f["Y"] if labels is not False and "Y" in keys else None
            classes = [str(c) for c in f["classes"]] if "classes" in keys else None
    except ValueError:
        raise
    except Exception as e:              # zipfile / pickle / truncation errors: all mean a bad file
        raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if X.ndim > 2:
        X = _examples_first(X)
    elif X.ndim == 2 and rows:
        X = X.T
    return X, Y, classes


def _load_csv(path, labels, n_x):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        table = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if table and not _is_numeric(table[0][1]):
        table = table[1:]                                        # a header row
    if not table:
        raise ValueError(f"{path}: no data rows")
    width = len(table[0][1])
    for line, row in table:
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} columns, the first data row has {width}")
        if not _is_numeric(row):
            bad = next(cell for cell in row if not _is_numeric([cell]))
            raise ValueError(f"{path}: line {line}: {bad[:40]!r} is not a number")
    data = np.array([[float(cell) for cell in row] for _, row in table]).T    # (columns, m)
    if labels is None:
        labels = n_x is None or width == n_x + 1
    if not labels:
        return data, None, None
    if width < 2:
        raise ValueError(f"{path}: need at least one feature column and a label column; got {width} column")
    return data[:-1], data[-1:], None


def _is_numeric(row):
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _examples_first(A):
    """(m, ...) -> (n_x, m) as the course does: A.reshape(m, -1).T."""
    A = np.asarray(A)
    if A.ndim == 1:
        raise ValueError(f"expected examples of at least one feature; got a 1-D array of shape {A.shape}")
    return A.reshape(A.shape[0], -1).T


def _validate(path, X, Y, classes, rows):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D (n_x, m); got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) or np.iscomplexobj(X):
        raise ValueError(f"{path}: X must hold real numbers; got dtype {X.dtype}")
    if X.size == 0:
        raise ValueError(f"{path}: X is empty (shape {X.shape})")
    if np.issubdtype(X.dtype, np.floating) and not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: X has non-finite values (nan or inf)")
    if Y is None:
        return X, None, classes
    Y = np.asarray(Y)
    if Y.ndim > 2 or (Y.ndim == 2 and 1 not in Y.shape) or Y.ndim == 0:
        raise ValueError(f"{path}: Y must be (m,), (1, m) or (m, 1); got shape {Y.shape}")
    if not (np.issubdtype(Y.dtype, np.number) or Y.dtype == np.bool_):
        raise ValueError(f"{path}: Y must hold the numbers 0 and 1; got dtype {Y.dtype}")
    Y = Y.reshape(1, -1).astype(np.float64)
    m = X.shape[1]
    if Y.shape[1] != m:
        hint = ""
        if X.shape[0] == Y.shape[1]:
            hint = " (examples look like rows: pass rows=True / --rows)" if not rows else \
                   " (examples look like columns: drop rows=True / --rows)"
        raise ValueError(f"{path}: X has {m} examples (shape {X.shape}) but Y has {Y.shape[1]}{hint}")
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"{path}: Y has non-finite values (nan or inf)")
    bad = np.unique(Y[(Y != 0) & (Y != 1)])
    if bad.size:
        raise ValueError(f"{path}: labels must be 0 or 1; found {', '.join(f'{v:g}' for v in bad[:5])}")
    return X, Y, classes


def _names(keys):
    return ", ".join(repr(k) for k in keys) if keys else "none"
