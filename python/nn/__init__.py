"""nn: the fully connected networks of the classic deep-learning course notes, with a fast C++ core.

    import nn
    net = nn.Network([12288, 20, 7, 5, 1], hidden="relu", init="xavier", seed=1)
    hist = net.fit(X, Y, learning_rate=0.0075, iterations=2500)     # X (n_x, m), Y (1, m)
    net.predict(X)
"""
# Loads libscipy_openblas into the process before _core needs it (the RPATH finds it too; this also
# covers layouts where the two packages are installed apart).
import scipy_openblas32  # noqa: F401

from . import _blas, _core, datasets, functional, io, preprocessing, reference  # noqa: F401
from ._blas import get_blas, set_blas
from .network import History, Network

__version__ = "0.1.0"
__all__ = [
    "Network", "History", "functional", "reference", "datasets", "preprocessing", "io", "load", "get_blas", "set_blas",
]

_blas._choose_at_import()


def load(path):
    """Read a network written by `Network.save` (see nn.io)."""
    from .io import load as _load

    return _load(path)
