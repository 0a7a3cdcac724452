"""The `nn` command, run as a subprocess (`python -m nn`) on files the tests write."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import nn
from nn import datasets


def run(cwd, *args):
    return subprocess.run([sys.executable, "-m", "nn", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def ok(cwd, *args):
    p = run(cwd, *args)
    assert p.returncode == 0, f"nn {' '.join(map(str, args))} failed:\n{p.stderr}"
    assert "Traceback" not in p.stderr
    return p


def ok_json(cwd, *args):
    return json.loads(ok(cwd, *args, "--json").stdout)


def fails(cwd, *args, message):
    p = run(cwd, *args)
    assert p.returncode != 0, f"expected failure, got:\n{p.stdout}"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{p.stderr}"
    assert lines[0].startswith("nn: error: "), lines[0]
    assert message in lines[0], lines[0]
    return p


def snapshot(path):
    return path.read_bytes(), path.stat().st_mtime_ns


def blobs(m=120, n=3, seed=0):
    """Two Gaussian blobs far apart in feature 0, with large offsets that call for standardising."""
    rng = np.random.RandomState(seed)
    Y = (rng.rand(1, m) > 0.5).astype(np.int64)
    X = rng.randn(n, m) + 3 * (2 * Y - 1) * np.eye(n, 1) + 50
    return X, Y


def bright_images(m=80, seed=0):
    """(m, 4, 4, 3) uint8 images; label 1 = bright, 0 = dark."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, size=m)
    images = (rng.randint(0, 128, size=(m, 4, 4, 3)) + 128 * y[:, None, None, None]).astype(np.uint8)
    return images, y


def write_h5(path, name, images, y):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{name}_x", data=images)
        f.create_dataset(f"{name}_y", data=y)
        f.create_dataset("list_classes", data=np.array([b"dark", b"bright"]))


def read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction", "probability"]
    return np.array([int(r[0]) for r in rows[1:]]), np.array([float(r[1]) for r in rows[1:]])


def expected_predictions(model, data, **load_args):
    net = nn.load(model)
    X, _, _ = datasets.load(data, labels=None, n_x=net.layer_dims[0], **load_args)
    if net.preprocessing is not None:
        X = net.preprocessing.transform(X)
    X = X.astype(net.dtype)
    return net.predict(X).ravel(), net.predict_proba(X).ravel()


# ---------------------------------------------------------------------------- the main command

def test_default_train_json(tmp_path):
    r = ok_json(tmp_path, "train", "--quiet")
    network, logistic = r["models"]
    assert network["model"] == "network" and network["layer_dims"] == [2, 4, 1]
    assert network["activations"] == ["tanh", "sigmoid"]
    assert logistic["model"] == "logistic regression" and logistic["layer_dims"] == [2, 1]
    assert (r["m_train"], r["m_test"]) == (320, 80)
    assert network["train_accuracy"] >= 88
    assert network["test_accuracy"] >= 80
    assert logistic["test_accuracy"] < 60
    assert r["model_path"] == str(tmp_path / "nn-planar.npz")
    net = nn.load(r["model_path"])
    assert net.layer_dims == (2, 4, 1) and net.train_settings_["learning_rate"] == 1.2
    assert net.train_settings_["iterations"] == 10000
    assert float(net.history_.costs[-1]) == network["final_cost"]


def test_default_train_table_progress_and_no_overwrite(tmp_path):
    first = ok(tmp_path, "train")
    out = first.stdout
    rows = {line.split("  ")[0]: line for line in out.splitlines() if line.startswith(("network", "logistic"))}
    assert set(rows) == {"network", "logistic regression"}
    train_acc, test_acc = [float(s.rstrip("%")) for s in rows["network"].split() if s.endswith("%")]
    assert train_acc >= 88 and test_acc >= 80
    lr_test = [float(s.rstrip("%")) for s in rows["logistic regression"].split() if s.endswith("%")][1]
    assert lr_test < 60
    assert "train accuracy" in out and "test accuracy" in out and "time" in out
    assert "Saved the network to nn-planar.npz" in out
    assert "cost=" in first.stderr                                        # the progress bar shows the cost
    before = snapshot(tmp_path / "nn-planar.npz")
    second = ok(tmp_path, "train", "--quiet", "--iterations", "10")
    assert "Saved the network to nn-planar-1.npz" in second.stdout        # a fresh name, never an overwrite
    assert snapshot(tmp_path / "nn-planar.npz") == before
    assert nn.load(tmp_path / "nn-planar-1.npz").train_settings_["iterations"] == 10


def test_info(tmp_path):
    ok(tmp_path, "train", "--quiet", "--iterations", "500", "--out", "m.npz")
    text = ok(tmp_path, "info", "m.npz").stdout
    assert "[2, 4, 1]" in text and "tanh -> sigmoid" in text and "float64" in text
    assert "learning rate 1.2" in text and "500 iterations" in text
    cost = float(nn.load(tmp_path / "m.npz").history_.costs[-1])
    assert f"final cost:     {cost:.6g} (iteration 500)" in text
    d = ok_json(tmp_path, "info", "m.npz")
    assert d["layer_dims"] == [2, 4, 1] and d["parameters"] == 17 and d["final_cost"] == cost


def test_plot_and_float32(tmp_path):
    pytest.importorskip("matplotlib")
    ok(tmp_path, "train", "--quiet", "--iterations", "200", "--float32", "--plot", "curve.png", "--out", "f.npz")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    net = nn.load(tmp_path / "f.npz")
    assert net.dtype == np.float32 and all(W.dtype == np.float32 for W, _ in net.params)


# ---------------------------------------------------------------------------- user data

def test_h5_images_train_predict_info(tmp_path):
    images, y = bright_images(80, seed=0)
    write_h5(tmp_path / "train.h5", "train_set", images, y)
    images_t, y_t = bright_images(30, seed=1)
    write_h5(tmp_path / "test.h5", "test_set", images_t, y_t)
    r = ok_json(tmp_path, "train", "--quiet", "--data", "train.h5", "--test", "test.h5", "--layers", "5",
                "--lr", "0.1", "--iterations", "400", "--seed", "3", "--out", "cats.npz")
    (network,) = r["models"]
    assert network["layer_dims"] == [48, 5, 1] and (r["m_train"], r["m_test"]) == (80, 30)
    assert network["train_accuracy"] >= 95 and network["test_accuracy"] >= 90
    net = nn.load(tmp_path / "cats.npz")
    assert net.preprocessing.describe() == "divide by 255"                # uint8 images scaled as the course
    assert "divide by 255" in ok(tmp_path, "info", "cats.npz").stdout

    p = ok(tmp_path, "predict", "cats.npz", "--data", "test.h5", "--out", "pred.csv")
    assert f"accuracy: {network['test_accuracy']:.2f}%" in p.stdout
    predictions, probabilities = read_predictions(tmp_path / "pred.csv")
    expected, expected_proba = expected_predictions(tmp_path / "cats.npz", tmp_path / "test.h5")
    np.testing.assert_array_equal(predictions, expected)
    np.testing.assert_array_equal(probabilities, expected_proba)           # written with 17 digits
    assert np.mean(predictions == y_t) * 100 == network["test_accuracy"]


@pytest.mark.parametrize("layout", ["columns", "rows"])
def test_npz_standardised(tmp_path, layout):
    X, Y = blobs(150)
    if layout == "columns":
        np.savez(tmp_path / "d.npz", X=X, Y=Y)
        rows = []
    else:
        np.savez(tmp_path / "d.npz", X=X.T, Y=Y.ravel())
        rows = ["--rows"]
    r = ok_json(tmp_path, "train", "--quiet", "--data", "d.npz", *rows, "--standardize", "--layers", "4",
                "--lr", "0.5", "--iterations", "300", "--out", "b.npz")
    (network,) = r["models"]
    assert (r["m_train"], r["m_test"]) == (120, 30)                        # the default 80/20 split
    assert network["train_accuracy"] >= 95 and network["test_accuracy"] >= 90
    net = nn.load(tmp_path / "b.npz")
    (step,) = net.preprocessing.steps
    X_train = datasets.train_test_split(X, Y, 0.2, seed=1)[0]              # fitted on the training part only
    np.testing.assert_allclose(step.mean_, X_train.mean(axis=1, keepdims=True), rtol=1e-12)
    p = ok_json(tmp_path, "predict", "b.npz", "--data", "d.npz", *rows)
    expected, _ = expected_predictions(tmp_path / "b.npz", tmp_path / "d.npz", rows=bool(rows))
    assert p["examples"] == 150 and p["predicted_1"] == int(expected.sum())
    assert p["accuracy"] == np.mean(expected == Y.ravel()) * 100


def test_csv_with_header_and_unlabelled_predict(tmp_path):
    X, Y = blobs(100, n=2, seed=4)
    with open(tmp_path / "d.csv", "w") as f:
        f.write("a,b,label\n")
        for x, y in zip(X.T, Y.ravel()):
            f.write(f"{float(x[0])!r},{float(x[1])!r},{y}\n")
    with open(tmp_path / "new.csv", "w") as f:
        for x in X.T[:10]:
            f.write(f"{float(x[0])!r},{float(x[1])!r}\n")
    r = ok_json(tmp_path, "train", "--quiet", "--data", "d.csv", "--standardize", "--layers", "",
                "--lr", "1", "--iterations", "200", "--out", "c.npz")
    assert r["models"][0]["layer_dims"] == [2, 1] and r["models"][0]["test_accuracy"] >= 90
    p = ok(tmp_path, "predict", "c.npz", "--data", "new.csv", "--out", "p.csv")
    assert "accuracy" not in p.stdout and "10 examples" in p.stdout
    predictions, _ = read_predictions(tmp_path / "p.csv")
    expected, _ = expected_predictions(tmp_path / "c.npz", tmp_path / "new.csv")
    np.testing.assert_array_equal(predictions, expected)
    assert np.mean(predictions == Y.ravel()[:10]) >= 0.8
    assert "accuracy: " in ok(tmp_path, "predict", "c.npz", "--data", "d.csv").stdout


# ---------------------------------------------------------------------------- errors

@pytest.fixture
def keep(tmp_path):
    """An existing file passed as --out: every failing command must leave it exactly as it was."""
    path = tmp_path / "keep.npz"
    path.write_bytes(b"precious bytes")
    before = snapshot(path)
    yield path
    assert snapshot(path) == before


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path.name


@pytest.mark.parametrize("make, message", [
    (lambda d: "missing.npz", "no such file: missing.npz"),
    (lambda d: write_npz(d / "k.npz", features=np.zeros((2, 4)), Y=np.zeros((1, 4))), "expected arrays 'X' and 'Y'"),
    (lambda d: write_npz(d / "l.npz", X=np.zeros((2, 4)), Y=np.array([[0, 1, 2, 1]])), "labels must be 0 or 1"),
    (lambda d: write_npz(d / "s.npz", X=np.zeros((2, 4)), Y=np.zeros((1, 5))), "X has 4 examples"),
    (lambda d: write_npz(d / "n.npz", X=np.array([[0, np.nan, 1, 2.0]]), Y=np.zeros((1, 4))), "non-finite"),
    (lambda d: (d / "t.csv").write_text("1,2,0\n3,inf,1\n") and "t.csv", "non-finite"),
    (lambda d: (d / "b.csv").write_text("1,2,0\n3,4,0.5\n") and "b.csv", "labels must be 0 or 1; found 0.5"),
])
def test_train_data_errors(tmp_path, keep, make, message):
    data = make(tmp_path)
    fails(tmp_path, "train", "--quiet", "--data", data, "--out", keep.name, "--force", message=message)


def test_train_existing_out_and_plot_need_force(tmp_path, keep):
    fails(tmp_path, "train", "--quiet", "--out", keep.name, message="keep.npz already exists; pass --force")
    fails(tmp_path, "train", "--quiet", "--plot", keep.name, message="keep.npz already exists; pass --force")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]        # nothing was written


def test_train_force_replaces(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"old")
    ok(tmp_path, "train", "--quiet", "--iterations", "10", "--out", "m.npz", "--force")
    assert nn.load(tmp_path / "m.npz").layer_dims == (2, 4, 1)


def test_predict_errors(tmp_path):
    ok(tmp_path, "train", "--quiet", "--iterations", "10", "--out", "m.npz")
    X, Y = blobs(10, n=3)
    np.savez(tmp_path / "three.npz", X=X, Y=Y)
    np.savez(tmp_path / "two.npz", X=X[:2], Y=Y)
    (tmp_path / "pred.csv").write_text("mine\n")
    before = snapshot(tmp_path / "pred.csv")
    fails(tmp_path, "predict", "m.npz", "--data", "two.npz", "--out", "pred.csv",
          message="pred.csv already exists; pass --force")
    assert snapshot(tmp_path / "pred.csv") == before
    fails(tmp_path, "predict", "m.npz", "--data", "three.npz", message="has 3 features per example; the model expects 2")
    fails(tmp_path, "predict", "nope.npz", "--data", "two.npz", message="no such file: nope.npz")
    fails(tmp_path, "predict", "m.npz", "--data", "nope.npz", message="no such file: nope.npz")
    (tmp_path / "bad.npz").write_bytes((tmp_path / "m.npz").read_bytes()[:100])
    fails(tmp_path, "predict", "bad.npz", "--data", "two.npz", message="not a valid nn model file")
    fails(tmp_path, "info", "bad.npz", message="not a valid nn model file")
    fails(tmp_path, "info", "missing.npz", message="no such file")
    ok(tmp_path, "predict", "m.npz", "--data", "two.npz", "--out", "pred.csv", "--force")
    assert read_predictions(tmp_path / "pred.csv")[0].shape == (10,)


def test_usage_errors(tmp_path):
    fails(tmp_path, "train", "--layers", "4,x", message="--layers")
    fails(tmp_path, "train", "--hidden", "swish", message="--hidden")
    fails(tmp_path, "train", "--lr", "-1", message="--lr")
    fails(tmp_path, "train", "--test", "x.npz", message="--test needs --data")
    p = run(tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
