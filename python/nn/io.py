"""Model files: a versioned .npz of plain arrays (no pickle), written atomically.

Format version 1 holds these arrays (L = number of layers):
    format              str ()        "nn-model"
    format_version      int64 ()      1
    layer_dims          int64 (L+1,)  [n_x, n1, ..., nL]
    activations         str (L,)      one name per layer
    dtype               str ()        "float64" or "float32"
    W1, b1, ..., WL, bL               parameters in `dtype`, W{l} (n[l], n[l-1]), b{l} (n[l], 1)
    history.iterations  int64 (k,)    } the cost history of the last fit, if any
    history.costs       float64 (k,)  }
    history.<name>      number ()     } e.g. learning_rate, seconds
    train.<name>        scalar ()     training settings of the last fit (learning_rate, iterations, ...):
                                      a number, a bool or a str
    preprocessing.steps int64 ()        number of preprocessing steps, if any; then for step i:
    preprocessing.<i>.kind  str ()      e.g. "scale", "standardize"
    preprocessing.<i>.<field>           the step's numbers and arrays (see nn.preprocessing)
Anything else in the file, a missing entry, a wrong shape or dtype, or an unreadable file is a ValueError.
"""

import contextlib
import math
import os
import re
import tempfile
import zipfile

import numpy as np

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "nn-model"
FORMAT_VERSION = 1
DTYPES = ("float32", "float64")


# ---------------------------------------------------------------------------- save

def save(net, path, overwrite=False):
    """Write `net` to `path` (.npz). An existing file is replaced only with overwrite=True.

    The arrays go to a temporary file in the same directory, which is then renamed onto `path`, so a
    crash or error mid-save leaves any previous file at `path` intact.
    """
    path = os.fspath(path)
    arrays = _to_arrays(net)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())          # mkstemp makes 0600; give the file the usual mode
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_overwrite(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _rename_no_overwrite(tmp, path):
    # A hard link fails if `path` appeared since the check above, where os.replace would clobber it.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)") from None
    except (OSError, AttributeError, NotImplementedError):    # no hard links on this file system
        if os.path.lexists(path):
            raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _to_arrays(net):
    params = [(np.asarray(W), np.asarray(b)) for W, b in net.params]
    dtype = np.dtype(net.dtype)
    if dtype.name not in DTYPES:
        raise ValueError(f"can only save float32 or float64 networks; got {dtype}")
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "layer_dims": np.array(net.layer_dims, dtype=np.int64),
        "activations": np.array([str(a) for a in net.activations]),
        "dtype": np.array(dtype.name),
    }
    for l, (W, b) in enumerate(params, start=1):
        arrays[f"W{l}"] = W
        arrays[f"b{l}"] = b
    history = getattr(net, "history_", None)
    if history is not None:
        arrays["history.iterations"] = np.asarray(history.iterations, dtype=np.int64)
        arrays["history.costs"] = np.asarray(history.costs, dtype=np.float64)
        for name in ("learning_rate", "seconds"):
            value = getattr(history, name, None)
            if value is not None:
                arrays[f"history.{name}"] = _number(value, f"history.{name}")
    for name, value in (getattr(net, "train_settings_", None) or {}).items():
        if value is not None:
            arrays[f"train.{_identifier(name)}"] = _setting(value, f"train.{name}")
    steps = _preprocessing_steps(getattr(net, "preprocessing", None))
    if steps is not None:
        arrays["preprocessing.steps"] = np.array(len(steps), dtype=np.int64)
        for i, step in enumerate(steps):
            for field, value in step.items():
                arrays[f"preprocessing.{i}.{_identifier(field)}"] = np.asarray(value)
    for key, a in arrays.items():
        if a.dtype.hasobject:
            raise ValueError(f"cannot save {key!r}: it holds Python objects (dtype {a.dtype})")
    return arrays


def _preprocessing_steps(pre):
    """None, a Pipeline, a single step or their to_dict() -> None or a list of step dicts."""
    if pre is None:
        return None
    d = pre.to_dict() if hasattr(pre, "to_dict") else pre
    if not isinstance(d, dict):
        raise TypeError(f"net.preprocessing must be None or have to_dict(); got {type(pre).__name__}")
    steps = d["steps"] if "steps" in d else [d]
    return [s.to_dict() if hasattr(s, "to_dict") else dict(s) for s in steps]


def _number(value, name):
    a = np.asarray(value)
    if a.shape != () or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"cannot save {name}: expected a single number, got {value!r}")
    if a.dtype == np.bool_:
        return a
    return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)


def _setting(value, name):
    if isinstance(value, str):
        return np.array(value)
    return _number(value, name)


def _identifier(name):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
        raise ValueError(f"cannot save entry named {name!r}: use letters, digits and underscores")
    return str(name)


# ---------------------------------------------------------------------------- load

def load(path):
    """Read a model written by save(): an nn.Network with params, history_, train_settings_, preprocessing."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    arrays = _read_arrays(path)
    try:
        return _from_arrays(arrays)
    except ValueError as e:
        raise ValueError(f"{path}: not a valid nn model file: {e}") from None


def _read_arrays(path):
    """All arrays of the .npz, after checking each member's declared size against its stored size."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                _check_member(zf, info)
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except ValueError as e:
        raise ValueError(f"{path}: not a valid nn model file: {e}") from None
    except Exception as e:              # BadZipFile, bad CRC, EOFError, ...: all mean a damaged file
        raise ValueError(f"{path}: not a valid nn model file (truncated or damaged: "
                         f"{type(e).__name__}: {e})") from None


def _check_member(zf, info):
    if not info.filename.endswith(".npy"):
        raise ValueError(f"unexpected member {info.filename!r}")
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"{info.filename}: unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError(f"{info.filename}: holds Python objects, which are never loaded")
        stored = info.file_size - fp.tell()
    declared = math.prod(shape) * dtype.itemsize
    if declared != stored:
        raise ValueError(f"{info.filename}: header says {declared} bytes of data, the file has {stored}")


def _from_arrays(a):
    known = set()

    def get(key, dtype_kind=None, shape=None):
        known.add(key)
        if key not in a:
            raise ValueError(f"missing entry {key!r}")
        v = a[key]
        if dtype_kind is not None and v.dtype.kind not in dtype_kind:
            raise ValueError(f"{key!r} has dtype {v.dtype}, expected kind {dtype_kind!r}")
        if shape is not None and v.shape != shape:
            raise ValueError(f"{key!r} has shape {v.shape}, expected {shape}")
        return v

    fmt = str(get("format", "U", ()))
    if fmt != FORMAT:
        raise ValueError(f"format is {fmt!r}, expected {FORMAT!r}")
    version = int(get("format_version", "iu", ()))
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version} is not supported (this nn reads version {FORMAT_VERSION}); "
                         "a newer nn may read it")
    layer_dims = get("layer_dims", "iu")
    if layer_dims.ndim != 1 or layer_dims.size < 2 or np.any(layer_dims < 1):
        raise ValueError(f"layer_dims must list at least two positive sizes; got {layer_dims.tolist()}")
    layer_dims = [int(n) for n in layer_dims]
    L = len(layer_dims) - 1
    activations = [str(s) for s in get("activations", "U", (L,))]
    dtype = str(get("dtype", "U", ()))
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    params = []
    for l in range(1, L + 1):
        W = get(f"W{l}", "f", (layer_dims[l], layer_dims[l - 1]))
        b = get(f"b{l}", "f", (layer_dims[l], 1))
        for name, v in ((f"W{l}", W), (f"b{l}", b)):
            if v.dtype != np.dtype(dtype):
                raise ValueError(f"{name!r} has dtype {v.dtype}, the model's dtype is {dtype}")
        params.append((W, b))

    history = _history(a, get, known)
    train_settings = {k[len("train."):]: _scalar(a[k], k, text=True) for k in a if k.startswith("train.")}
    known.update(f"train.{k}" for k in train_settings)
    preprocessing = _preprocessing(a, get)

    unknown = sorted(set(a) - known)
    if unknown:
        raise ValueError(f"unexpected entries {', '.join(repr(k) for k in unknown)}")

    from .network import Network
    try:
        net = Network.from_params(params, activations=activations, dtype=np.dtype(dtype))
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from None
    net.history_ = history
    net.train_settings_ = train_settings or None
    net.preprocessing = preprocessing
    return net


def _history(a, get, known):
    if not any(k.startswith("history.") for k in a):
        return None
    iterations = get("history.iterations", "iu")
    costs = get("history.costs", "f")
    if iterations.ndim != 1 or costs.shape != iterations.shape:
        raise ValueError(f"history.iterations {iterations.shape} and history.costs {costs.shape} "
                         "must be 1-D of the same length")
    extra = {}
    for name in ("learning_rate", "seconds"):
        key = f"history.{name}"
        if key in a:
            extra[name] = _scalar(get(key), key)
    return _make_history(iterations.astype(np.int64), costs.astype(np.float64), **extra)


def _make_history(iterations, costs, **extra):
    from .network import History
    return History(iterations=iterations, costs=costs, **extra)


def _preprocessing(a, get):
    if "preprocessing.steps" not in a:
        return None
    from .preprocessing import Pipeline, from_dict
    n = int(get("preprocessing.steps", "iu", ()))
    if not 0 <= n <= 100:
        raise ValueError(f"preprocessing.steps is {n}")
    steps = []
    for i in range(n):
        prefix = f"preprocessing.{i}."
        d = {k[len(prefix):]: get(k) for k in list(a) if k.startswith(prefix)}
        if "kind" not in d or d["kind"].dtype.kind != "U" or d["kind"].shape != ():
            raise ValueError(f"missing or malformed entry '{prefix}kind'")
        d["kind"] = str(d["kind"])
        steps.append(from_dict(d))
    return Pipeline(steps)


def _scalar(v, name, text=False):
    if v.shape != () or v.dtype.kind not in ("biufU" if text else "iuf"):
        what = "a single number or string" if text else "a single number"
        raise ValueError(f"{name!r} must be {what}; got dtype {v.dtype} shape {v.shape}")
    if v.dtype.kind == "U":
        return str(v)
    if v.dtype.kind == "b":
        return bool(v)
    return int(v) if v.dtype.kind in "iu" else float(v)
