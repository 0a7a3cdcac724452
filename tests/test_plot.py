"""nn.plot: cost curves and decision boundaries written as PNG with the Agg backend."""

import sys

import numpy as np
import pytest

import nn
from nn import datasets, plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


@pytest.fixture(scope="module")
def planar_fit():
    X, Y = datasets.planar(m=100, seed=1)
    net = nn.Network([2, 4, 1], hidden="tanh", seed=1)
    hist = net.fit(X, Y, learning_rate=1.2, iterations=300, record_every=50)
    return net, hist, X, Y


def test_costs_png(agg, planar_fit, tmp_path):
    _, hist, _, _ = planar_fit
    path = tmp_path / "costs.png"
    ax = plot.costs(hist, label="network", save=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), hist.iterations)
    np.testing.assert_array_equal(line.get_ydata(), hist.costs)
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "cost"


def test_decision_boundary_png(agg, planar_fit, tmp_path):
    net, _, X, Y = planar_fit
    fig, ax = agg.subplots()
    returned = plot.decision_boundary(net, X, Y, ax=ax, resolution=50)
    assert returned is ax
    path = tmp_path / "boundary.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    (points,) = ax.collections[-1:]                                        # the scatter of the examples
    np.testing.assert_array_equal(points.get_offsets(), X.T)
    assert len(ax.collections) >= 2                                        # the filled regions are drawn too


def test_pyplot_free_figure_for_files(agg, planar_fit, tmp_path):
    net, hist, X, Y = planar_fit
    fig, axes = plot.figure(2)
    plot.costs(hist, ax=axes[0])
    plot.decision_boundary(net, X, Y, ax=axes[1], resolution=20)
    fig.savefig(tmp_path / "both.png")
    assert (tmp_path / "both.png").read_bytes()[:8] == PNG_MAGIC


def test_decision_boundary_needs_two_features(agg):
    net = nn.Network([3, 1], init="zeros")
    with pytest.raises(ValueError, match="2-feature"):
        plot.decision_boundary(net, np.zeros((3, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="one label per column"):
        plot.decision_boundary(nn.Network([2, 1]), np.zeros((2, 4)), np.zeros((1, 3)))


def test_missing_matplotlib_says_how_to_install(monkeypatch, planar_fit):
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)                     # `import` of these now fails
    with pytest.raises(ImportError, match=r'pip install "nn\[plot\]"'):
        plot.costs(planar_fit[1])
    with pytest.raises(ImportError, match=r'pip install "nn\[plot\]"'):
        plot.figure()
