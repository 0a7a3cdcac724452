"""Input preprocessing in course layout (X is (n_x, m)), and a plain description of it for model files.

A model must see at predict time exactly the transformation it was trained on, so every step can be written
as a dict of strings, numbers and arrays (`to_dict`) and rebuilt from one (`from_dict`); nn.io stores these
dicts in the model file without pickle.
"""

import numpy as np

__all__ = ["flatten", "scale", "Scale", "Standardizer", "Pipeline", "from_dict"]


def flatten(images):
    """Images (m, h, w, c) -> X (h*w*c, m), exactly as the course: images.reshape(m, -1).T."""
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"images must be (m, h, w, c) (or any (m, ...)); got shape {images.shape}")
    m = images.shape[0]
    return images.reshape(m, -1).T


def scale(X, factor=255):
    """X / factor as float64 (the course's X / 255. for 8-bit pixels)."""
    return Scale(factor).transform(X)


class Scale:
    """Divide by a constant: X / factor."""

    kind = "scale"

    def __init__(self, factor=255):
        factor = float(factor)
        if not np.isfinite(factor) or factor == 0:
            raise ValueError(f"scale factor must be finite and non-zero; got {factor!r}")
        self.factor = factor

    def fit(self, X):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float64) / self.factor

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def to_dict(self):
        return {"kind": self.kind, "factor": self.factor}

    @classmethod
    def from_dict(cls, d):
        return cls(_scalar(d, "factor"))

    def __repr__(self):
        return f"Scale({self.factor:g})"


class Standardizer:
    """Per-feature (X - mean) / std, with mean and std taken over the examples of the training set.

    fit(X_train) learns mean_ and std_, both (n_x, 1); a feature that is constant on the training set
    gets std 1 so that it maps to 0 rather than to nan.
    """

    kind = "standardize"

    def __init__(self, mean=None, std=None):
        self.mean_ = None if mean is None else _column(mean, "mean")
        self.std_ = None if std is None else _column(std, "std")
        if (self.mean_ is None) != (self.std_ is None):
            raise ValueError("give both mean and std, or neither")
        if self.mean_ is not None:
            if self.mean_.shape != self.std_.shape:
                raise ValueError(f"mean {self.mean_.shape} and std {self.std_.shape} must have the same shape")
            if not (np.all(np.isfinite(self.mean_)) and np.all(np.isfinite(self.std_)) and np.all(self.std_ > 0)):
                raise ValueError("mean must be finite and std finite and positive")

    def fit(self, X):
        X = _matrix(X)
        self.mean_ = X.mean(axis=1, keepdims=True)
        std = X.std(axis=1, keepdims=True)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X):
        if self.mean_ is None:
            raise ValueError("Standardizer is not fitted: call fit(X_train) first")
        X = _matrix(X)
        if X.shape[0] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[0]} features; the Standardizer was fitted on {self.mean_.shape[0]}")
        return (X - self.mean_) / self.std_

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def to_dict(self):
        if self.mean_ is None:
            raise ValueError("Standardizer is not fitted: nothing to describe")
        return {"kind": self.kind, "mean": self.mean_.copy(), "std": self.std_.copy()}

    @classmethod
    def from_dict(cls, d):
        for key in ("mean", "std"):
            if key not in d:
                raise ValueError(f"standardize step is missing {key!r}")
        return cls(np.asarray(d["mean"]), np.asarray(d["std"]))

    def __repr__(self):
        n = "unfitted" if self.mean_ is None else f"{self.mean_.shape[0]} features"
        return f"Standardizer({n})"


class Pipeline:
    """Steps applied in order, e.g. Pipeline([Scale(255), Standardizer()])."""

    def __init__(self, steps=()):
        self.steps = list(steps)

    def fit(self, X):
        for step in self.steps:
            X = step.fit_transform(X)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        for step in self.steps:
            X = step.transform(X)
        return X

    def fit_transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        for step in self.steps:
            X = step.fit_transform(X)
        return X

    def to_dict(self):
        """{"steps": [step dict, ...]}; each step dict holds only str, float and ndarray values."""
        return {"steps": [step.to_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, d):
        if "steps" not in d:
            raise ValueError("preprocessing description is missing 'steps'")
        return cls([from_dict(s) for s in d["steps"]])

    def describe(self):
        return " -> ".join(_describe(s) for s in self.steps) or "none"

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        return f"Pipeline({self.steps!r})"


STEPS = {Scale.kind: Scale, Standardizer.kind: Standardizer}


def from_dict(d):
    """Rebuild one step from its to_dict() description (or a Pipeline from {"steps": [...]})."""
    if "steps" in d and "kind" not in d:
        return Pipeline.from_dict(d)
    kind = d.get("kind")
    kind = str(kind[()]) if isinstance(kind, np.ndarray) else kind
    if kind not in STEPS:
        raise ValueError(f"unknown preprocessing step {kind!r}; known: {', '.join(STEPS)}")
    return STEPS[kind].from_dict(d)


def _describe(step):
    if isinstance(step, Scale):
        return f"divide by {step.factor:g}"
    if isinstance(step, Standardizer):
        return "standardize (mean/std of the training set)"
    return repr(step)


def _matrix(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be (n_x, m); got shape {X.shape}")
    return X


def _column(v, name):
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        v = v.reshape(-1, 1)
    if v.ndim != 2 or v.shape[1] != 1 or v.shape[0] == 0:
        raise ValueError(f"{name} must be (n_x, 1); got shape {v.shape}")
    return v


def _scalar(d, key):
    if key not in d:
        raise ValueError(f"preprocessing step is missing {key!r}")
    v = np.asarray(d[key])
    if v.shape != () or not np.issubdtype(v.dtype, np.number):
        raise ValueError(f"{key!r} must be a single number; got {v.dtype} of shape {v.shape}")
    return float(v)
