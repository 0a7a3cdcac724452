"""Which BLAS runs the products nn computes on one thread: OpenBLAS (always installed) or Intel MKL (the
`nn[mkl]` extra, x86-64 Linux).

nn threads a large network itself, splitting its examples over a team that calls BLAS on one thread each
(the same holds for tiny networks and for a one-thread limit). Those products can run in MKL's sequential
library, which is faster than OpenBLAS on this work on Intel's CPUs (deep [256]*9 float64: 15% less time per
iteration on a Xeon), and slower on AMD's (wide [784, 512, 256, 1]: 17% more in float64, 20% more in float32
on an EPYC, where MKL does not take its fastest code). Products that OpenBLAS threads itself (the split first
layer of a net with few examples and many features, mid-sized networks) stay with OpenBLAS. Results agree to
rounding either way, and each BLAS gives the same bits run after run.

At import nn takes MKL when it is installed and the CPU is Intel's, unless the environment variable NN_BLAS
says "openblas"; NN_BLAS=mkl takes MKL on any CPU, and makes a missing MKL an error.
"""
import os
import warnings
from importlib import metadata

from . import _core

BLASES = ("openblas", "mkl")


def _mkl_runtime_path():
    """Path of libmkl_rt from the installed `mkl` package, or None."""
    try:
        files = metadata.files("mkl") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.startswith("libmkl_rt.so"):
            path = os.path.normpath(f.locate())
            if os.path.isfile(path):
                return path
    return None


def get_blas() -> str:
    """The BLAS that runs nn's one-thread products now: "openblas" or "mkl"."""
    return "mkl" if _core.sequential_blas_on() else "openblas"


def set_blas(name: str) -> None:
    """Run nn's one-thread products in `name`: "openblas" or "mkl" (needs `pip install "nn[mkl]"`).

    Applies to every network from the next product on; switch between fits, not during one in another thread
    (that fit would go on correctly, with its products from both libraries)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, one of {BLASES}, got {type(name).__name__}")
    if name not in BLASES:
        raise ValueError(f"name: unknown BLAS {name!r}; expected one of {BLASES}")
    if name == "openblas":
        _core.use_sequential_blas(False)
    else:
        _use_mkl(_mkl_runtime_path())


def _use_mkl(path) -> None:
    """Switch to the MKL at `path` (None: not installed); ImportError saying why when it cannot be used."""
    if path is None:
        raise ImportError('set_blas("mkl"): Intel MKL is not installed; pip install "nn[mkl]" (x86-64 Linux)')
    try:
        _core.load_mkl(path)
    except RuntimeError as e:
        raise ImportError(f'set_blas("mkl"): {e}') from None


def _intel_cpu() -> bool:
    """Whether this machine's CPU is Intel's (Linux's /proc/cpuinfo; MKL's wheels are for x86-64 Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip() == "GenuineIntel"
    except OSError:
        pass
    return False


def _choose_at_import() -> None:
    wanted = os.environ.get("NN_BLAS", "")
    if wanted == "":
        path = _mkl_runtime_path() if _intel_cpu() else None  # (lists the installed mkl package's files)
        if path is not None:
            try:
                _use_mkl(path)
            except ImportError as e:  # installed but unusable here, e.g. already threaded by another library
                warnings.warn(f"{e}; nn stays on OpenBLAS (NN_BLAS=openblas silences this)", RuntimeWarning,
                              stacklevel=3)
        return
    if wanted not in BLASES:
        raise ValueError(f"NN_BLAS: unknown BLAS {wanted!r}; expected one of {BLASES} or unset")
    set_blas(wanted)
