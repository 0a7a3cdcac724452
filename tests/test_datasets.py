"""nn.datasets: the planar flower data (published values) and loading .h5 / .npz / .csv files."""

import sys

import numpy as np
import pytest

from nn import datasets

# Published values of the course's load_planar_dataset() (np.random.seed(1), m = 400).
PLANAR_X_0_3 = [[1.204442292254319, 0.15870990398255372, 0.09524719604502052],
                [3.5761141481288448, -1.4821709003683443, -1.2799553276531797]]


# ---------------------------------------------------------------------------- planar

def test_planar_published_values():
    X, Y = datasets.planar()
    assert X.shape == (2, 400) and Y.shape == (1, 400)
    assert X.dtype == np.float64 and Y.dtype == np.float64
    np.testing.assert_allclose(X[:, 0:3], PLANAR_X_0_3, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.sum(Y), 200, rtol=1e-12)


def test_planar_matches_the_course_code_with_the_global_seed():
    """The course draws from np.random.seed(seed); planar must draw the same numbers in the same order."""
    def course(m, seed):
        np.random.seed(seed)
        N, a = m // 2, 4
        X = np.zeros((m, 2))
        Y = np.zeros((m, 1), dtype="uint8")
        for j in range(2):
            ix = range(N * j, N * (j + 1))
            t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
            r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
            X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
            Y[ix] = j
        return X.T, Y.T

    state = np.random.get_state()
    try:
        for m, seed in [(400, 1), (50, 3), (2, 0)]:
            X_course, Y_course = course(m, seed)
            X, Y = datasets.planar(m, seed)
            np.testing.assert_array_equal(X, X_course)
            np.testing.assert_array_equal(Y, Y_course)
    finally:
        np.random.set_state(state)


def test_planar_labels_and_global_state():
    state = np.random.get_state()[1].copy()
    X, Y = datasets.planar(m=10, seed=5)
    np.testing.assert_array_equal(np.random.get_state()[1], state)      # global RNG untouched
    np.testing.assert_array_equal(Y, [[0] * 5 + [1] * 5])
    assert not np.array_equal(datasets.planar(m=10, seed=6)[0], X)
    np.testing.assert_array_equal(datasets.planar(m=10, seed=5)[0], X)


@pytest.mark.parametrize("m", [0, 3, 2.5, -2])
def test_planar_rejects_bad_m(m):
    with pytest.raises(ValueError, match="m must be"):
        datasets.planar(m)


# ---------------------------------------------------------------------------- train_test_split

def test_train_test_split_partitions_the_columns():
    X = np.arange(30.0).reshape(3, 10)
    Y = (np.arange(10) % 2).reshape(1, 10).astype(float)
    X_train, X_test, Y_train, Y_test = datasets.train_test_split(X, Y, 0.2, seed=1)
    assert X_train.shape == (3, 8) and X_test.shape == (3, 2)
    assert Y_train.shape == (1, 8) and Y_test.shape == (1, 2)
    cols = np.hstack([X_train, X_test])[0]
    np.testing.assert_array_equal(np.sort(cols), X[0])                   # every example exactly once
    np.testing.assert_array_equal(np.hstack([Y_train, Y_test])[0], cols % 2)    # pairs stay together
    again = datasets.train_test_split(X, Y, 0.2, seed=1)
    np.testing.assert_array_equal(again[1], X_test)
    assert any(not np.array_equal(datasets.train_test_split(X, Y, 0.2, seed=s)[1], X_test) for s in range(2, 6))


def test_train_test_split_planar_sizes():
    X, Y = datasets.planar()
    X_train, X_test, Y_train, Y_test = datasets.train_test_split(X, Y, test_fraction=0.2, seed=1)
    assert X_train.shape == (2, 320) and X_test.shape == (2, 80)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_train_test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.train_test_split(np.zeros((2, 10)), np.zeros((1, 10)), fraction)


# ---------------------------------------------------------------------------- .h5

def cat_images(m=6, h=4, w=5, c=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(m, h, w, c)).astype(np.uint8), rng.randint(0, 2, size=m)


def write_h5(path, **datasets_):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        for name, value in datasets_.items():
            f.create_dataset(name, data=value)


@pytest.mark.parametrize("y_shape", ["(m,)", "(1, m)"])
def test_load_h5_course_layout(tmp_path, y_shape):
    images, labels = cat_images()
    y = labels if y_shape == "(m,)" else labels.reshape(1, -1)
    path = tmp_path / "train_catvnoncat.h5"
    write_h5(path, train_set_x=images, train_set_y=y, list_classes=np.array([b"non-cat", b"cat"]))
    X, Y, classes = datasets.load(path)
    assert X.shape == (4 * 5 * 3, 6) and X.dtype == np.uint8              # flattened, not scaled
    np.testing.assert_array_equal(X, images.reshape(6, -1).T)
    np.testing.assert_array_equal(X[:, 2], images[2].ravel())
    assert Y.shape == (1, 6) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y[0], labels)
    assert classes == ["non-cat", "cat"]


def test_load_h5_without_classes_and_without_labels(tmp_path):
    images, labels = cat_images()
    path = tmp_path / "test.h5"
    write_h5(path, test_set_x=images)
    with pytest.raises(ValueError, match="_y"):
        datasets.load(path)
    X, Y, classes = datasets.load(path, labels=None)
    assert X.shape == (60, 6) and Y is None and classes is None


def test_load_h5_ambiguous_or_missing_x(tmp_path):
    images, labels = cat_images()
    write_h5(tmp_path / "two.h5", a_x=images, b_x=images, a_y=labels)
    with pytest.raises(ValueError, match="'a_x', 'b_x'"):
        datasets.load(tmp_path / "two.h5")
    write_h5(tmp_path / "none.h5", images=images, labels=labels)
    with pytest.raises(ValueError, match="_x"):
        datasets.load(tmp_path / "none.h5")


def test_load_h5_not_hdf5(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "fake.h5"
    path.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(ValueError, match="HDF5"):
        datasets.load(path)


def test_load_h5_without_h5py_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "x.h5"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)            # makes `import h5py` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "nn\[h5\]"'):
        datasets.load(path)


# ---------------------------------------------------------------------------- .npz

def test_load_npz_columns_and_rows(tmp_path):
    rng = np.random.RandomState(1)
    X = rng.randn(3, 7)
    Y = (rng.rand(1, 7) > 0.5).astype(np.int64)
    np.savez(tmp_path / "cols.npz", X=X, Y=Y)
    np.savez(tmp_path / "rows.npz", X=X.T, Y=Y.ravel())
    for name, rows in [("cols.npz", False), ("rows.npz", True)]:
        X_, Y_, classes = datasets.load(tmp_path / name, rows=rows)
        np.testing.assert_array_equal(X_, X)
        np.testing.assert_array_equal(Y_, Y)
        assert Y_.dtype == np.float64 and classes is None
    with pytest.raises(ValueError, match="--rows"):                      # wrong layout is caught, with a hint
        datasets.load(tmp_path / "rows.npz")


def test_load_npz_images_and_classes(tmp_path):
    images, labels = cat_images(m=5)
    np.savez(tmp_path / "img.npz", X=images, Y=labels, classes=np.array(["dog", "cat"]))
    X, Y, classes = datasets.load(tmp_path / "img.npz")
    np.testing.assert_array_equal(X, images.reshape(5, -1).T)
    assert X.dtype == np.uint8 and classes == ["dog", "cat"]


def test_load_npz_keys(tmp_path):
    np.savez(tmp_path / "noy.npz", X=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'X' and 'Y'"):
        datasets.load(tmp_path / "noy.npz")
    X, Y, _ = datasets.load(tmp_path / "noy.npz", labels=None)
    assert X.shape == (2, 3) and Y is None
    np.savez(tmp_path / "unknown.npz", X=np.zeros((2, 3)), Y=np.zeros((1, 3)), Z=np.zeros(1))
    with pytest.raises(ValueError, match="unknown arrays 'Z'"):
        datasets.load(tmp_path / "unknown.npz")
    np.savez(tmp_path / "names.npz", features=np.zeros((2, 3)), labels=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="found 'features', 'labels'"):
        datasets.load(tmp_path / "names.npz")


def test_load_npz_refuses_pickles_and_garbage(tmp_path):
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}], dtype=object), Y=np.zeros((1, 1)))
    with pytest.raises(ValueError):
        datasets.load(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable"):
        datasets.load(tmp_path / "junk.npz")


# ---------------------------------------------------------------------------- .csv

@pytest.mark.parametrize("header", [True, False])
def test_load_csv(tmp_path, header):
    text = ("x1,x2,x3,label\n" if header else "") + "1,2,3,0\n4,5,6.5,1\n-7,8e-3,9,1\n"
    (tmp_path / "d.csv").write_text(text)
    X, Y, classes = datasets.load(tmp_path / "d.csv")
    np.testing.assert_array_equal(X, [[1, 4, -7], [2, 5, 8e-3], [3, 6.5, 9]])
    np.testing.assert_array_equal(Y, [[0, 1, 1]])
    assert classes is None


def test_load_csv_labels_by_width(tmp_path):
    (tmp_path / "d.csv").write_text("1,2,3\n4,5,6\n")
    X, Y, _ = datasets.load(tmp_path / "d.csv", labels=None, n_x=3)
    assert X.shape == (3, 2) and Y is None
    (tmp_path / "l.csv").write_text("1,2,1\n4,5,0\n")
    X, Y, _ = datasets.load(tmp_path / "l.csv", labels=None, n_x=2)
    assert X.shape == (2, 2) and Y.tolist() == [[1, 0]]


@pytest.mark.parametrize("text, message", [
    ("1,2,0\n3,4\n", "line 2 has 2 columns"),
    ("a,b,y\n1,2,0\n\n3,x,1\n", "line 4: 'x' is not a number"),
    ("a,b,c\n", "no data rows"),
    ("1,2,2\n3,4,1\n", "labels must be 0 or 1; found 2"),
    ("1,nan,0\n3,4,1\n", "non-finite"),
    ("1,2,0\n3,4,inf\n", "non-finite"),
])
def test_load_csv_errors(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        datasets.load(tmp_path / "bad.csv")


# ---------------------------------------------------------------------------- any format

def test_load_validates_labels_and_shapes(tmp_path):
    np.savez(tmp_path / "y.npz", X=np.zeros((2, 3)), Y=np.array([[0, 1, -1]]))
    with pytest.raises(ValueError, match="labels must be 0 or 1; found -1"):
        datasets.load(tmp_path / "y.npz")
    np.savez(tmp_path / "m.npz", X=np.zeros((2, 3)), Y=np.zeros((1, 4)))
    with pytest.raises(ValueError, match="X has 3 examples .* Y has 4"):
        datasets.load(tmp_path / "m.npz")
    np.savez(tmp_path / "inf.npz", X=np.array([[0.0, np.inf]]), Y=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        datasets.load(tmp_path / "inf.npz")
    np.savez(tmp_path / "y2d.npz", X=np.zeros((2, 4)), Y=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Y must be"):
        datasets.load(tmp_path / "y2d.npz")


def test_load_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        datasets.load(tmp_path / "nope.npz")
    (tmp_path / "d.txt").write_text("1,2,0\n")
    with pytest.raises(ValueError, match="unknown data format '.txt'"):
        datasets.load(tmp_path / "d.txt")
