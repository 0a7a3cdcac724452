"""The BLAS for nn's one-thread products (nn/_blas.py, cpp/include/nn/sequential_blas.hpp): OpenBLAS, or Intel
MKL's sequential library with the `mkl` extra.

Without MKL installed these tests check the switch and its errors; with it (CI installs it in a second venv and
runs the whole suite there with NN_BLAS=mkl) they also check that the products really move to MKL, that the
results agree with OpenBLAS's to rounding, and that MKL's are reproducible bit for bit.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy_openblas32

import nn
from nn import _blas, _core

from helpers import assert_close, assert_concurrent_fits_match_alone, assert_params_close, assert_params_equal

needs_mkl = pytest.mark.skipif(_blas._mkl_runtime_path() is None, reason="Intel MKL is not installed (the mkl extra)")
needs_two_threads = pytest.mark.skipif(_core.blas_get_num_threads() < 2,
                                       reason="the team of column slices needs OpenBLAS to allow two threads")

# A shared library that is not MKL: OpenBLAS's own has none of MKL's entry points.
NOT_MKL = os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas.so")

# The network of test_slices: big enough that its examples are split over a team (2 slices), whose products
# run on one thread each; dW sums over all m = 1003 columns, a K long enough that the two libraries round
# differently.
DIMS = [48, 512, 96, 1]
M = 1003


@pytest.fixture
def use_blas():
    """nn.set_blas for one test; the BLAS in use before is restored afterwards."""
    before = nn.get_blas()
    yield nn.set_blas
    nn.set_blas(before)


def make_data(dtype=np.float64, m=M, offset=0):
    """X (DIMS[0], m) C-contiguous, starting `offset` elements into its buffer (to vary its alignment)."""
    rng = np.random.RandomState(7)
    X0 = rng.randn(DIMS[0], m)
    Y = (rng.randn(1, DIMS[0]) @ X0 > 0).astype(dtype)
    buf = np.empty(X0.size + offset, dtype=dtype)
    X = buf[offset:].reshape(X0.shape)
    X[...] = X0
    return X, Y


def fit(blas, set_blas, dtype=np.float64, offset=0, iterations=12):
    set_blas(blas)
    X, Y = make_data(dtype, offset=offset)
    net = nn.Network(DIMS, hidden="tanh", init="xavier", seed=3, dtype=dtype)
    hist = net.fit(X, Y, learning_rate=0.05, iterations=iterations, record_every=1)
    return net, hist


def run_python(code, **env):
    """Runs `code` in a fresh interpreter with NN_BLAS and friends set as given (None removes one)."""
    environ = dict(os.environ)
    for k, v in env.items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)


# ------------------------------------------------------------------ the switch and its errors

def test_get_blas_names_a_known_library():
    assert nn.get_blas() in ("openblas", "mkl")


def test_set_blas_rejects_a_name_that_is_not_a_string():
    with pytest.raises(TypeError, match="name: expected a str"):
        nn.set_blas(1)


def test_set_blas_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="name: unknown BLAS 'atlas'"):
        nn.set_blas("atlas")


def test_set_blas_openblas_is_always_there(use_blas):
    use_blas("openblas")
    assert nn.get_blas() == "openblas"
    net, _ = fit("openblas", use_blas, iterations=2)
    assert net.train_settings_["blas"] == "openblas"  # a fit records the library it ran on


def test_set_blas_mkl_without_mkl_says_how_to_get_it(use_blas, monkeypatch):
    before = nn.get_blas()
    monkeypatch.setattr(_blas, "_mkl_runtime_path", lambda: None)
    with pytest.raises(ImportError, match=r'pip install "nn\[mkl\]"'):
        nn.set_blas("mkl")
    assert nn.get_blas() == before  # a refused switch changes nothing


def test_a_library_that_is_not_mkl_is_refused():
    # In a process where MKL was never loaded (NN_BLAS=openblas).
    assert os.path.isfile(NOT_MKL)
    code = ("import nn\nfrom nn import _blas\n"
            f"_blas._mkl_runtime_path = lambda: {NOT_MKL!r}\n_blas._intel_cpu = lambda: True\n"
            "try:\n    nn.set_blas('mkl')\nexcept ImportError as e:\n    print('refused:', e)\n"
            "print(nn.get_blas())\n")
    proc = run_python(code, NN_BLAS="openblas")
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "MKL_Set_Threading_Layer: not an MKL runtime library" in proc.stdout
    assert proc.stdout.strip().endswith("openblas")


def test_an_installed_but_unusable_mkl_is_a_warning_at_import():
    # NN_BLAS unset and MKL found but refused (here a library that is not MKL): nn warns and stays on OpenBLAS.
    code = ("import os, warnings\nimport nn\nfrom nn import _blas\ndel os.environ['NN_BLAS']\n"
            f"_blas._mkl_runtime_path = lambda: {NOT_MKL!r}\n_blas._intel_cpu = lambda: True\n"
            "with warnings.catch_warnings(record=True) as caught:\n    warnings.simplefilter('always')\n"
            "    _blas._choose_at_import()\n"
            "print([(w.category.__name__, str(w.message)) for w in caught], nn.get_blas())\n")
    proc = run_python(code, NN_BLAS="openblas")
    assert proc.returncode == 0, proc.stderr
    assert "('RuntimeWarning', 'set_blas(\"mkl\"): " in proc.stdout
    assert "nn stays on OpenBLAS (NN_BLAS=openblas silences this)" in proc.stdout
    assert proc.stdout.strip().endswith("openblas")


def test_a_missing_library_file_is_refused():
    code = ("import nn\nfrom nn import _blas\n_blas._mkl_runtime_path = lambda: '/nonexistent/libmkl_rt.so.2'\n"
            "try:\n    nn.set_blas('mkl')\nexcept ImportError as e:\n    print('refused:', e)\n")
    proc = run_python(code, NN_BLAS="openblas")
    assert proc.returncode == 0, proc.stderr
    assert "refused: set_blas(\"mkl\"): cannot load /nonexistent/libmkl_rt.so.2" in proc.stdout


def test_nn_blas_openblas_keeps_openblas():
    proc = run_python("import nn; print(nn.get_blas())", NN_BLAS="openblas")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "openblas"


def test_nn_blas_with_an_unknown_value_fails_the_import_clearly():
    proc = run_python("import nn", NN_BLAS="fastest")
    assert proc.returncode != 0
    assert "ValueError: NN_BLAS: unknown BLAS 'fastest'" in proc.stderr


@pytest.mark.skipif(_blas._mkl_runtime_path() is not None, reason="MKL is installed here")
def test_nn_blas_mkl_without_mkl_fails_the_import_clearly():
    proc = run_python("import nn", NN_BLAS="mkl")
    assert proc.returncode != 0
    assert 'ImportError: set_blas("mkl"): Intel MKL is not installed; pip install "nn[mkl]"' in proc.stderr


@pytest.mark.skipif(_blas._mkl_runtime_path() is not None, reason="MKL is installed here")
def test_without_mkl_nn_runs_on_openblas():
    proc = run_python("import nn; print(nn.get_blas())", NN_BLAS=None)
    assert proc.stdout.strip() == "openblas", proc.stderr


# ------------------------------------------------------------------ with MKL installed

@needs_mkl
def test_mkl_is_taken_when_installed_and_nn_blas_is_unset_on_intel_cpus():
    # elsewhere (AMD) MKL's sequential products were slower than OpenBLAS's, and nn keeps OpenBLAS
    proc = run_python("import nn; print(nn.get_blas())", NN_BLAS=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("mkl" if _blas._intel_cpu() else "openblas")


def test_the_cpu_vendor_is_read_from_proc_cpuinfo(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open
    for vendor, intel in [("GenuineIntel", True), ("AuthenticAMD", False)]:
        info = tmp_path / vendor
        info.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 6\n")
        monkeypatch.setattr(builtins, "open",
                            lambda path, *a, **k: real_open(info if path == "/proc/cpuinfo" else path, *a, **k))
        assert _blas._intel_cpu() is intel
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(tmp_path / "missing", *a, **k))
    assert _blas._intel_cpu() is False


@needs_mkl
@needs_two_threads
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_mkl_and_openblas_team_fits_agree_to_rounding(use_blas, dtype, rtol):
    # rtol: float64 as test_slices' split against one thread (the same sums in another order); float32 as its
    # costs against a float64 oracle, a few hundred float32 roundings per value.
    on_openblas, h_openblas = fit("openblas", use_blas, dtype)
    on_mkl, h_mkl = fit("mkl", use_blas, dtype)
    assert on_mkl.train_settings_["example_slices"] == 2
    assert (on_mkl.train_settings_["blas"], on_openblas.train_settings_["blas"]) == ("mkl", "openblas")
    assert_close(h_mkl.costs, h_openblas.costs, rtol, "costs, MKL against OpenBLAS")
    assert_params_close(on_mkl.params, on_openblas.params, rtol, "params, MKL against OpenBLAS")
    # ... and not the same bits: the team's products really ran in the other library
    assert any(not np.array_equal(W, W_ref) for (W, _), (W_ref, _) in zip(on_mkl.params, on_openblas.params))


@needs_mkl
def test_mkl_and_openblas_one_thread_fits_agree_to_rounding(use_blas, blas_threads):
    blas_threads(1)
    on_openblas, _ = fit("openblas", use_blas)
    on_mkl, _ = fit("mkl", use_blas)
    assert on_mkl.train_settings_["example_slices"] == 1
    assert_params_close(on_mkl.params, on_openblas.params, 1e-12, "params at one thread, MKL against OpenBLAS")
    assert any(not np.array_equal(W, W_ref) for (W, _), (W_ref, _) in zip(on_mkl.params, on_openblas.params))


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mkl_fits_are_the_same_bits_whatever_the_alignment_of_x(use_blas, dtype):
    first, h_first = fit("mkl", use_blas, dtype, offset=0)
    for offset in (1, 3):
        again, h_again = fit("mkl", use_blas, dtype, offset=offset)
        assert_params_equal(again.params, first.params, f"MKL fit with X {offset} elements off")
        np.testing.assert_array_equal(h_again.costs, h_first.costs)


@needs_mkl
def test_concurrent_mkl_fits_match_one_alone(use_blas):
    # A hold on one thread (each tiny fit makes one) must not send another thread's products to MKL: which
    # library runs a product is decided by the thread that calls it.
    use_blas("mkl")
    X, Y = make_data(m=120)
    nets = [nn.Network([DIMS[0], 16, 1], hidden="tanh", seed=5) for _ in range(5)]
    assert_concurrent_fits_match_alone(nets, lambda net: net.fit(X, Y, learning_rate=0.05, iterations=40,
                                                                 first_layer="gram"))
