"""nn.io: bit-exact model files, refusal of damaged ones, no silent overwrite, atomic saves."""

import os
import zipfile

import numpy as np
import pytest

import nn
from nn import io
from nn.preprocessing import Pipeline, Scale, Standardizer

DTYPES = [np.float64, np.float32]


def trained_network(dtype, preprocessing=True):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(3, 40)).astype(np.uint8)
    Y = (X[:1].astype(float) > 128).astype(float)
    net = nn.Network([3, 4, 2, 1], hidden="tanh", seed=1, dtype=dtype)
    pipe = Pipeline([Scale(255), Standardizer()])
    Xp = pipe.fit_transform(X).astype(dtype)
    net.fit(Xp, Y, learning_rate=0.1, iterations=37, record_every=10)
    if preprocessing:
        net.preprocessing = pipe
    return net, Xp


def arrays_of(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def rewrite(path, arrays, **changes):
    """Write the arrays of a model file with some entries changed (value None = removed)."""
    arrays = dict(arrays)
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(path, **arrays)
    return path


@pytest.fixture
def saved(tmp_path):
    net, _ = trained_network(np.float64)
    path = tmp_path / "model.npz"
    io.save(net, path)
    return path


# ---------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_is_bit_exact(tmp_path, dtype):
    net, X = trained_network(dtype)
    path = tmp_path / "m.npz"
    net.save(path)
    back = nn.io.load(path)
    assert back.layer_dims == net.layer_dims == (3, 4, 2, 1)
    assert tuple(back.activations) == tuple(net.activations) == ("tanh", "tanh", "sigmoid")
    assert np.dtype(back.dtype) == np.dtype(dtype)
    for (W, b), (W2, b2) in zip(net.params, back.params):
        assert W2.dtype == W.dtype == dtype and b2.dtype == b.dtype == dtype
        assert W2.shape == W.shape and b2.shape == b.shape
        assert W2.tobytes() == W.tobytes() and b2.tobytes() == b.tobytes()
    assert back.predict_proba(X).tobytes() == net.predict_proba(X).tobytes()
    h, h2 = net.history_, back.history_
    np.testing.assert_array_equal(h2.iterations, [0, 10, 20, 30, 37])
    np.testing.assert_array_equal(h2.iterations, h.iterations)
    assert h2.costs.tobytes() == np.asarray(h.costs, dtype=np.float64).tobytes()
    assert h2.learning_rate == h.learning_rate == 0.1 and h2.seconds == h.seconds
    assert back.train_settings_ == net.train_settings_
    assert {type(v) for v in back.train_settings_.values()} == {type(v) for v in net.train_settings_.values()}
    assert back.train_settings_["iterations"] == 37 and back.train_settings_["record_every"] == 10
    d, d2 = net.preprocessing.to_dict(), back.preprocessing.to_dict()
    assert [s["kind"] for s in d2["steps"]] == ["scale", "standardize"]
    assert d2["steps"][0]["factor"] == 255.0
    for key in ("mean", "std"):
        assert d2["steps"][1][key].tobytes() == d["steps"][1][key].tobytes()


def test_round_trip_of_an_untrained_network(tmp_path):
    net = nn.Network([5, 1], init="zeros", dtype=np.float32)
    io.save(net, tmp_path / "lr.npz")
    back = io.load(tmp_path / "lr.npz")
    assert back.layer_dims == (5, 1) and back.dtype == np.float32
    assert back.history_ is None and back.train_settings_ is None and back.preprocessing is None
    assert all(not W.any() and not b.any() for W, b in back.params)


def test_nn_load_reads_saved_files(saved):
    net = nn.load(saved)
    assert isinstance(net, nn.Network) and net.layer_dims == (3, 4, 2, 1)


def test_file_layout_is_plain_arrays(saved):
    with zipfile.ZipFile(saved) as zf:
        names = sorted(zf.namelist())
    assert "format_version.npy" in names and "W1.npy" in names and "history.costs.npy" in names
    a = arrays_of(saved)                                            # loads with allow_pickle=False
    assert int(a["format_version"]) == io.FORMAT_VERSION == 1
    assert str(a["format"]) == "nn-model" and str(a["dtype"]) == "float64"
    assert a["layer_dims"].tolist() == [3, 4, 2, 1]
    assert not any(v.dtype.hasobject for v in a.values())


# ---------------------------------------------------------------------------- never overwrite, atomic

def test_existing_file_is_not_overwritten(tmp_path):
    net, _ = trained_network(np.float64)
    path = tmp_path / "precious.npz"
    path.write_bytes(b"the user's file")
    with pytest.raises(FileExistsError, match="already exists"):
        io.save(net, path)
    with pytest.raises(FileExistsError):
        net.save(path)
    assert path.read_bytes() == b"the user's file"
    net.save(path, overwrite=True)
    assert io.load(path).layer_dims == net.layer_dims
    assert sorted(os.listdir(tmp_path)) == ["precious.npz"]              # no temporary files left


@pytest.mark.parametrize("how", ["raise", "partial write"])
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch, how):
    net, _ = trained_network(np.float64)
    path = tmp_path / "model.npz"
    io.save(net, path)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns

    def broken_savez(file, *args, **kwds):
        if how == "partial write":
            file.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        io.save(net, path, overwrite=True)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    monkeypatch.undo()
    assert io.load(path).layer_dims == net.layer_dims


# ---------------------------------------------------------------------------- damaged files

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0, 1, 30, 0.5, -1])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    saved.write_bytes(data[:n])
    with pytest.raises(ValueError, match="not a valid nn model file"):
        io.load(saved)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(np.random.RandomState(0).bytes(5000))
    with pytest.raises(ValueError, match="not a valid nn model file"):
        io.load(path)


def test_flipped_byte_inside_an_array(saved):
    data = bytearray(saved.read_bytes())
    start = data.index(b"\x93NUMPY", data.index(b"W1.npy"))             # the W1 array's data follows its header
    data[start + 128 + 3] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a valid nn model file"):
        io.load(saved)


@pytest.mark.parametrize("change, message", [
    (dict(format_version=np.array(2)), "version 2 is not supported"),
    (dict(format_version=np.array("1")), "format_version"),
    (dict(format=np.array("something-else")), "format is 'something-else'"),
    (dict(W1=None), "missing entry 'W1'"),
    (dict(b3=None), "missing entry 'b3'"),
    (dict(activations=None), "missing entry 'activations'"),
    (dict(W1=np.zeros((3, 4))), "'W1' has shape \\(3, 4\\), expected \\(4, 3\\)"),
    (dict(b2=np.zeros((2,))), "'b2' has shape"),
    (dict(W2=np.zeros((2, 4), dtype=np.float32)), "'W2' has dtype float32"),
    (dict(dtype=np.array("float16")), "dtype 'float16'"),
    (dict(layer_dims=np.array([3, 4, 0, 1])), "positive"),
    (dict(activations=np.array(["tanh", "sigmoid"])), "'activations' has shape"),
    (dict(activations=np.array(["tanh", "swish", "sigmoid"])), "swish"),
    (dict(extra=np.zeros(3)), "unexpected entries 'extra'"),
    (dict(**{"history.costs": np.zeros(2)}), "history"),
    (dict(**{"preprocessing.0.kind": np.array("log")}), "unknown preprocessing step 'log'"),
    (dict(**{"preprocessing.1.std": None}), "'std'"),
    (dict(**{"train.iterations": np.zeros(3)}), "'train.iterations' must be a single number or string"),
])
def test_tampered_file(saved, change, message):
    rewrite(saved, arrays_of(saved), **change)
    with pytest.raises(ValueError, match=message):
        io.load(saved)


def test_pickled_object_array_is_never_loaded(saved):
    a = arrays_of(saved)
    a["W1"] = np.array([{"evil": 1}], dtype=object)
    np.savez(saved, **a)                                             # writes a pickle inside the zip
    with pytest.raises(ValueError, match="Python objects"):
        io.load(saved)


def test_header_that_lies_about_the_size(saved, tmp_path):
    """A header claiming more data than stored is refused before anything is allocated."""
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(path, "w") as zout:     # writestr keeps the CRC valid
        for info in zin.infolist():
            payload = zin.read(info)
            if info.filename == "W1.npy":
                assert b"'shape': (4, 3)" in payload
                payload = payload.replace(b"'shape': (4, 3)", b"'shape': (9, 9)")
            zout.writestr(info.filename, payload)
    with pytest.raises(ValueError, match="W1.npy: header says 648 bytes of data, the file has 96"):
        io.load(path)


def test_save_rejects_unsavable_settings(tmp_path):
    net, _ = trained_network(np.float64)
    net.train_settings_ = {"learning_rate": [0.1, 0.2]}
    with pytest.raises(ValueError, match="single number"):
        io.save(net, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)
