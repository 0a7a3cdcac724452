"""nn.preprocessing: flatten, scale, Standardizer, and their plain descriptions for model files."""

import numpy as np
import pytest

from nn import preprocessing as pp


def test_flatten_is_the_course_reshape():
    images = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    X = pp.flatten(images)
    assert X.shape == (36, 2) and X.dtype == np.uint8
    np.testing.assert_array_equal(X, images.reshape(images.shape[0], -1).T)
    np.testing.assert_array_equal(X[:, 1], images[1].ravel())          # one column per image
    with pytest.raises(ValueError, match="images"):
        pp.flatten(np.zeros(5))


def test_scale():
    X = np.array([[0, 51, 255]], dtype=np.uint8)
    S = pp.scale(X, 255)
    assert S.dtype == np.float64
    np.testing.assert_array_equal(S, [[0.0, 0.2, 1.0]])
    np.testing.assert_array_equal(S, X / 255.)                          # the course's X / 255.
    with pytest.raises(ValueError, match="non-zero"):
        pp.scale(X, 0)


def test_standardizer_fits_on_train_and_applies_to_test():
    rng = np.random.RandomState(0)
    X_train = rng.randn(3, 50) * [[1.0], [10.0], [0.1]] + [[5.0], [-2.0], [0.0]]
    X_test = rng.randn(3, 7)
    s = pp.Standardizer().fit(X_train)
    assert s.mean_.shape == (3, 1) and s.std_.shape == (3, 1)
    Z = s.transform(X_train)
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=1), 1, rtol=1e-12)
    expected = (X_test - X_train.mean(axis=1, keepdims=True)) / X_train.std(axis=1, keepdims=True)
    np.testing.assert_allclose(s.transform(X_test), expected, rtol=1e-14)
    np.testing.assert_array_equal(pp.Standardizer().fit_transform(X_train), Z)


def test_standardizer_constant_feature_maps_to_zero():
    X = np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]])
    s = pp.Standardizer().fit(X)
    assert s.std_[0, 0] == 1.0
    Z = s.transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_array_equal(Z[0], [0, 0, 0])


def test_standardizer_errors():
    with pytest.raises(ValueError, match="not fitted"):
        pp.Standardizer().transform(np.zeros((2, 3)))
    s = pp.Standardizer().fit(np.random.RandomState(1).randn(2, 5))
    with pytest.raises(ValueError, match="3 features"):
        s.transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="positive"):
        pp.Standardizer(mean=[0.0, 0.0], std=[1.0, 0.0])


def test_pipeline_description_round_trip_is_exact():
    rng = np.random.RandomState(2)
    X = rng.randint(0, 256, size=(4, 20)).astype(np.uint8)
    pipe = pp.Pipeline([pp.Scale(255), pp.Standardizer()])
    Z = pipe.fit_transform(X)
    d = pipe.to_dict()
    for step in d["steps"]:                                             # plain values only: storable without pickle
        for value in step.values():
            assert isinstance(value, (str, float, np.ndarray))
            assert not (isinstance(value, np.ndarray) and value.dtype.hasobject)
    again = pp.from_dict(d)
    assert isinstance(again, pp.Pipeline) and len(again) == 2
    np.testing.assert_array_equal(again.transform(X), Z)
    X_new = rng.randint(0, 256, size=(4, 3)).astype(np.uint8)
    np.testing.assert_array_equal(again.transform(X_new), pipe.transform(X_new))
    assert again.describe() == "divide by 255 -> standardize (mean/std of the training set)"


def test_from_dict_rejects_unknown_or_incomplete_steps():
    with pytest.raises(ValueError, match="unknown preprocessing step 'log'"):
        pp.from_dict({"kind": "log"})
    with pytest.raises(ValueError, match="'factor'"):
        pp.from_dict({"kind": "scale"})
    with pytest.raises(ValueError, match="'std'"):
        pp.from_dict({"kind": "standardize", "mean": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="same shape"):
        pp.from_dict({"kind": "standardize", "mean": np.zeros((2, 1)), "std": np.ones((3, 1))})
