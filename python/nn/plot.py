"""Plots of a fit: the cost curve and, for 2-feature data, the decision boundary (matplotlib, optional)."""

import numpy as np

__all__ = ["costs", "decision_boundary"]


def costs(history, ax=None, label=None, save=None):
    """Plot the recorded cost against the iteration number; returns the Axes.

    history: a History from fit() (anything with .iterations and .costs). Draws on `ax` if given,
    else on a new figure; save="curve.png" also writes the figure.
    """
    ax = _axes(ax)
    ax.plot(np.asarray(history.iterations), np.asarray(history.costs), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.set_title("Cost")
    if label is not None:
        ax.legend()
    _save(ax, save)
    return ax


def decision_boundary(net, X, Y, ax=None, resolution=200, save=None):
    """Colour the plane by net.predict and scatter the examples X (2, m) coloured by Y (1, m); returns the Axes.

    X is what the network sees (after any preprocessing).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y).reshape(-1)
    if X.ndim != 2 or X.shape[0] != 2:
        raise ValueError(f"decision_boundary needs 2-feature data X (2, m); got shape {X.shape}")
    if Y.shape[0] != X.shape[1]:
        raise ValueError(f"Y must have one label per column of X ({X.shape[1]}); got {Y.shape[0]}")
    ax = _axes(ax)
    pad = 0.1 * max(np.ptp(X[0]), np.ptp(X[1]), 1e-12) + 0.5
    x1 = np.linspace(X[0].min() - pad, X[0].max() + pad, resolution)
    x2 = np.linspace(X[1].min() - pad, X[1].max() + pad, resolution)
    xx1, xx2 = np.meshgrid(x1, x2)
    grid = np.vstack([xx1.ravel(), xx2.ravel()]).astype(net.dtype)          # (2, resolution**2)
    Z = np.asarray(net.predict(grid)).reshape(xx1.shape)
    ax.contourf(xx1, xx2, Z, levels=[-0.5, 0.5, 1.5], cmap="Spectral", alpha=0.8)
    ax.scatter(X[0], X[1], c=Y, s=12, cmap="Spectral", edgecolors="k", linewidths=0.3)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title("Decision boundary")
    _save(ax, save)
    return ax


def _axes(ax):
    if ax is not None:
        return ax
    plt = _pyplot()
    _, ax = plt.subplots()
    return ax


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "nn[plot]"') from None
    return plt


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401  (only whether it imports)
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "nn[plot]"') from None


def figure(ncols=1):
    """A pyplot-free Figure with `ncols` Axes side by side (for writing files without a display)."""
    require_matplotlib()
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5 * ncols, 4.5))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _save(ax, path):
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
