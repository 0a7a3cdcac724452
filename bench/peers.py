"""The implementations compared by bench/compare.py, behind one small interface.

    runner = make_runner(impl, workload, X, Y, params0, dtype)   # data already in `dtype`, X (n_x, m)
    runner.reset()          # untimed: back to params0 (fresh copies), build whatever the peer needs
    runner.train(n)         # timed: n iterations of full-batch gradient descent, and the final cost
    runner.params()         # untimed: [(W, b)] in the course layout, W (n[l], n[l-1]), b (n[l], 1)

Every peer does the same maths: Z[l] = W[l] A[l-1] + b[l], hidden g, sigmoid output, mean binary
cross-entropy, plain gradient descent W -= lr dW with dW = dZ A_prev^T / m. None computes dA[0] (nn and
the reference skip it by design, PyTorch because X does not require grad, scikit-learn because its loop
stops at layer 1).

Every timed call does the same work: n iterations, then the cost of the parameters they reach, which takes
one forward pass more. nn.fit and nn.reference.train report that cost themselves (nn's pass also checks the
last step for divergence); PyTorch's and scikit-learn's loops compute the cost of the parameters before each
step only, so their runners add the pass after the loop. Without it they did a forward pass less per call
than nn: 4.5% of a call of wide's 10 iterations.

A peer whose package is not installed raises PeerUnavailable from make_runner, and so do the products rows
(ProductsRunner: the workload's matrix products alone, one matmul each, in NumPy and in PyTorch) on a
workload they do not apply to.
"""
import importlib.util
import inspect
import warnings

import numpy as np

from workloads import useful_flops

IMPLS = ("nn", "nn_other_blas", "reference", "torch", "sklearn", "products", "products_torch")

# The products row runs where a workload's products are large enough to be most of its work and to make a floor
# (see ProductsRunner): wide (2e10 useful flops per iteration) and deep (7e9). Not cat (2e8): nn calls the BLAS
# otherwise there (split and streamed products of its 12288-feature layer) and took 1.5x less time than the
# products as one NumPy matmul each; and for planar or logistic (1e4, 1e7) the row would time NumPy's calls.
PRODUCTS_MIN_FLOPS = 1e9


class PeerUnavailable(Exception):
    pass


def installed(module):
    return importlib.util.find_spec(module) is not None


def nn_first_layer_supported():
    import nn

    return "first_layer" in inspect.signature(nn.Network.fit).parameters


def nn_variants():
    """The nn rows: ("auto", "primal") when fit takes first_layer=, else one row with the only path."""
    return ["auto", "primal"] if nn_first_layer_supported() else [None]


def copy_params(params):
    return [(W.copy(), b.copy()) for W, b in params]


# ------------------------------------------------------------------------------------------------- nn


def other_blas():
    """The BLAS nn did not choose at import, for the row beside nn's own: OpenBLAS next to MKL (Intel's CPUs
    with the mkl extra), else MKL next to OpenBLAS."""
    import nn

    return "openblas" if nn.get_blas() == "mkl" else "mkl"


class NNRunner:
    """nn.fit, on the BLAS nn chose at import (MKL with the mkl extra on Intel's CPUs, else OpenBLAS), or on
    `blas` for its calls only (the "nn on OpenBLAS" or "nn on MKL" row, beside nn on the other)."""

    def __init__(self, workload, X, Y, params0, dtype, first_layer=None, blas=None):
        import nn

        self.nn, self.w, self.X, self.Y, self.params0, self.dtype = nn, workload, X, Y, params0, dtype
        self.first_layer = first_layer
        self.path_used = first_layer
        if blas is not None and not hasattr(nn, "set_blas"):
            raise PeerUnavailable("this nn has one BLAS only")
        if blas is not None and nn.get_blas() == blas:
            raise PeerUnavailable(f"nn already runs on {blas} (NN_BLAS, or the mkl extra not installed)")
        if blas == "mkl" and nn._blas._mkl_runtime_path() is None:
            raise PeerUnavailable("Intel MKL is not installed (the mkl extra)")
        self.blas = blas

    def reset(self):
        hidden = self.w.hidden if self.w.hidden != "-" else "relu"  # no hidden layer: unused
        self.net = self.nn.Network.from_params(copy_params(self.params0), hidden=hidden, dtype=self.dtype)

    def train(self, n):
        kwargs = {} if self.first_layer is None else {"first_layer": self.first_layer}
        before = None
        if self.blas is not None:
            before = self.nn.get_blas()
            self.nn.set_blas(self.blas)
        try:
            self.net.fit(self.X, self.Y, learning_rate=self.w.learning_rate, iterations=n, record_every=max(n, 1),
                         **kwargs)
        finally:
            if before is not None:
                self.nn.set_blas(before)
        used = getattr(self.net, "first_layer_", None)          # the path "auto" resolved to
        if used is None:
            used = (getattr(self.net, "train_settings_", None) or {}).get("first_layer")
        if used is not None:
            self.path_used = used

    def params(self):
        return self.net.params


# ------------------------------------------------------------------------------------------ reference


class ReferenceRunner:
    def __init__(self, workload, X, Y, params0, dtype):
        from nn import reference

        self.ref, self.w, self.X, self.Y, self.params0 = reference, workload, X, Y, params0

    def reset(self):
        self.p = copy_params(self.params0)

    def train(self, n):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # its log(0) in the recorded cost
            self.p, _, _ = self.ref.train(self.X, self.Y, self.p, self.w.activations, self.w.learning_rate, n,
                                          record_every=max(n, 1))

    def params(self):
        return self.p


# ------------------------------------------------------------------------------------------------ torch


class TorchRunner:
    """Autograd on the course's column layout with a hand-written SGD step."""

    def __init__(self, workload, X, Y, params0, dtype):
        if not installed("torch"):
            raise PeerUnavailable("not installed")
        import torch
        import torch.nn.functional as F

        self.torch, self.F, self.w, self.params0 = torch, F, workload, params0
        self.X = torch.from_numpy(X)         # shares memory with the NumPy array, (n_x, m)
        self.Y = torch.from_numpy(Y)         # (1, m)
        act = {"relu": torch.relu, "tanh": torch.tanh, "-": None}
        self.g = act[workload.hidden]

    def reset(self):
        t = self.torch
        self.p = [(t.tensor(W, requires_grad=True), t.tensor(b, requires_grad=True)) for W, b in self.params0]

    def cost(self):
        """Mean binary cross-entropy of sigmoid(Z[L]), computed from the logits: the course's cost."""
        A, last = self.X, len(self.p) - 1
        for l, (W, b) in enumerate(self.p):
            Z = self.torch.addmm(b, W, A)       # Z = W A + b (b broadcast over the columns)
            A = Z if l == last else self.g(Z)
        return self.F.binary_cross_entropy_with_logits(A, self.Y)

    def train(self, n):
        t, lr = self.torch, self.w.learning_rate
        flat = [x for pair in self.p for x in pair]
        for _ in range(n):
            self.cost().backward()
            with t.no_grad():
                for x in flat:
                    x -= lr * x.grad
                    x.grad = None
        with t.no_grad():  # the cost of the parameters reached
            self.final_cost = float(self.cost())

    def params(self):
        return [(W.detach().numpy().copy(), b.detach().numpy().copy()) for W, b in self.p]


# ------------------------------------------------------------------------------------------- sklearn


class SklearnRunner:
    """MLPClassifier as plain full-batch gradient descent, warm-started from params0.

    solver="sgd" with batch_size=m, momentum 0, constant rate, alpha=0, shuffle off, no early stopping and a
    stopping rule that cannot fire (tol=0 with n_iter_no_change larger than max_iter) is exactly
    W -= lr dW. scikit-learn has no public way to start from given weights, so reset() does one
    partial_fit on two examples (it sets classes_, n_layers_, out_activation_, ...), then replaces coefs_ and
    intercepts_ (transposed: scikit-learn stores W as (n_in, n_out)) and clears the bookkeeping that fit
    would otherwise carry over. With warm_start=True, fit() then keeps those weights; it builds a fresh
    SGDOptimizer over them. Its binary loss is log-loss of a logistic output, so dZ[L] = A[L] - Y as ours.
    """

    def __init__(self, workload, X, Y, params0, dtype):
        if not installed("sklearn"):
            raise PeerUnavailable("not installed")
        from sklearn.neural_network import MLPClassifier

        if workload.hidden not in ("relu", "tanh", "logistic", "identity", "-"):
            raise PeerUnavailable(f"no {workload.hidden} activation")
        self.MLPClassifier, self.w, self.params0 = MLPClassifier, workload, params0
        self.Xs = np.ascontiguousarray(X.T)          # scikit-learn's natural (m, n_x), C order
        self.ys = Y.ravel().astype(np.int64)

    def reset(self):
        w = self.w
        m = self.Xs.shape[0]
        clf = self.MLPClassifier(
            hidden_layer_sizes=tuple(w.layer_dims[1:-1]),
            activation=w.hidden if w.hidden != "-" else "identity",
            solver="sgd", alpha=0.0, batch_size=m, learning_rate="constant", learning_rate_init=w.learning_rate,
            momentum=0.0, nesterovs_momentum=False, shuffle=False, early_stopping=False,
            tol=0.0, n_iter_no_change=np.iinfo(np.int32).max, max_iter=1, warm_start=True, random_state=0)
        idx = [int(np.argmax(self.ys == 0)), int(np.argmax(self.ys == 1))]   # both classes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(self.Xs[idx], self.ys[idx], classes=np.array([0, 1]))
        # np.array copies: W.T of a one-row W is already contiguous, and fit() updates coefs_ in place
        clf.coefs_ = [np.array(W.T, order="C") for W, _ in self.params0]
        clf.intercepts_ = [b.ravel().copy() for _, b in self.params0]
        clf.n_iter_, clf.t_ = 0, 0
        clf.loss_curve_, clf._no_improvement_count, clf.best_loss_ = [], 0, np.inf
        self.clf = clf

    def train(self, n):
        self.clf.set_params(max_iter=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")    # ConvergenceWarning at max_iter: expected
            self.clf.fit(self.Xs, self.ys)
        if self.clf.n_iter_ != n:
            raise RuntimeError(f"MLPClassifier stopped after {self.clf.n_iter_} of {n} iterations")
        # the cost of the parameters reached, through scikit-learn's own forward pass
        p = self.clf.predict_proba(self.Xs)[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.final_cost = float(-np.mean(self.ys * np.log(p) + (1 - self.ys) * np.log1p(-p)))

    def params(self):
        return [(W.T.copy(), b.reshape(-1, 1).copy()) for W, b in zip(self.clf.coefs_, self.clf.intercepts_)]


# -------------------------------------------------------------------------------------------- products


def products_apply(workload):
    return useful_flops(workload.layer_dims, workload.m) >= PRODUCTS_MIN_FLOPS


class ProductsRunner:
    """The matrix products of the workload's iterations and nothing else, one matmul each: the least that an
    implementation calling that BLAS one product at a time must spend, and so, in NumPy (lib="numpy", on the
    OpenBLAS the matmul peak is measured with), a floor for nn's time on networks whose time is their products
    (nn makes the same products, on OpenBLAS, on its own threads or OpenBLAS's). With lib="torch" the same
    products go through PyTorch's matmul, which its x86 wheels run in MKL: what another BLAS makes of these
    shapes on this machine.

    One iteration is the products every peer makes, in the course layout and in matmul with `out=`
    (transposes are flags, not copies): Z[l] = W[l] A[l-1] for every layer, then dW[l] = dZ[l] A[l-1]^T, and
    dA[l-1] = W[l]^T dZ[l] except for layer 1. No bias, activation, cost or update, and nothing is allocated
    in the loop; a call ends with the forward products once more, as every runner ends with the final cost.
    The values are the products of the initial weights (the forward outputs feed the next layer and the
    backward ones the layer below, from a fixed dZ[L]); they stay finite and normal, so they time as the real
    ones. The arrays are NumPy's either way (PyTorch works on views of them). There are no parameters to
    check: params() is None, and the row has no cost."""

    def __init__(self, workload, X, Y, params0, dtype, lib="numpy"):
        if not products_apply(workload):
            raise PeerUnavailable("not run: its products are not where its time goes")
        if lib == "torch" and not installed("torch"):
            raise PeerUnavailable("not installed")
        m, dims = X.shape[1], workload.layer_dims
        self.X = X
        self.W = [np.array(W, dtype=dtype) for W, _ in params0]
        self.Z = [np.empty((n, m), dtype) for n in dims[1:]]
        self.dZ = [np.empty((n, m), dtype) for n in dims[1:]]
        self.dW = [np.empty_like(W) for W in self.W]
        self.dZ[-1][...] = np.random.default_rng(0).uniform(-0.5, 0.5, self.dZ[-1].shape)
        if lib == "torch":
            import torch

            self.matmul = torch.matmul
            with warnings.catch_warnings():  # X may be read-only; the products only read it
                warnings.simplefilter("ignore", UserWarning)
                self._X = torch.from_numpy(X)
            view = torch.from_numpy
        else:
            self.matmul, self._X, view = np.matmul, X, (lambda a: a)
        self._W, self._Z, self._dZ, self._dW = ([view(a) for a in arrays]
                                                for arrays in (self.W, self.Z, self.dZ, self.dW))

    def reset(self):
        pass

    def forward(self):
        A = self._X
        for W, Z in zip(self._W, self._Z):
            self.matmul(W, A, out=Z)
            A = Z

    def train(self, n):
        matmul, W, Z, dZ, dW = self.matmul, self._W, self._Z, self._dZ, self._dW
        for _ in range(n):
            self.forward()
            for l in reversed(range(len(W))):
                A_prev = self._X if l == 0 else Z[l - 1]
                matmul(dZ[l], A_prev.T, out=dW[l])
                if l > 0:
                    matmul(W[l].T, dZ[l], out=dZ[l - 1])
        self.forward()

    def params(self):
        return None


def make_runner(impl, workload, X, Y, params0, dtype, first_layer=None):
    if impl == "nn":
        return NNRunner(workload, X, Y, params0, dtype, first_layer)
    if impl == "nn_other_blas":
        return NNRunner(workload, X, Y, params0, dtype, blas=other_blas())
    if impl == "reference":
        return ReferenceRunner(workload, X, Y, params0, dtype)
    if impl == "torch":
        return TorchRunner(workload, X, Y, params0, dtype)
    if impl == "sklearn":
        return SklearnRunner(workload, X, Y, params0, dtype)
    if impl == "products":
        return ProductsRunner(workload, X, Y, params0, dtype)
    if impl == "products_torch":
        return ProductsRunner(workload, X, Y, params0, dtype, lib="torch")
    raise ValueError(impl)


# ---------------------------------------------------------------------------------------------- threads


class thread_limit:
    """`with thread_limit(n):` runs with n BLAS/OpenMP threads everywhere (nn's and NumPy's OpenBLAS via
    threadpoolctl, PyTorch via torch.set_num_threads); n=None leaves the defaults."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is None:
            return self
        from threadpoolctl import threadpool_limits

        # PyTorch's count first: threadpoolctl also limits PyTorch's OpenMP runtime, after which
        # torch.get_num_threads() reports the limit, and restoring that would leave PyTorch on one thread
        self._torch_threads = None
        if installed("torch"):
            import torch

            self._torch_threads = torch.get_num_threads()
        self._limits = threadpool_limits(limits=self.n)
        if self._torch_threads is not None:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.n is None:
            return False
        self._limits.restore_original_limits()
        if self._torch_threads is not None:
            import torch

            torch.set_num_threads(self._torch_threads)
        return False
