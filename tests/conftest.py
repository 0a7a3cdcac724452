"""Shared test setup: the comparison helpers live in tests/helpers.py (`from helpers import assert_close`)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so test modules can `from helpers import ...` in any import mode

from helpers import assert_close  # noqa: E402


@pytest.fixture
def close():
    """assert_close(actual, expected, rtol, what="value", scale=0.0), for tests that prefer a fixture."""
    return assert_close


@pytest.fixture
def blas_threads():
    """Sets OpenBLAS's thread count for one test (blas_threads(n)) and restores it afterwards."""
    from nn import _core

    before = _core.blas_get_num_threads()
    yield _core.blas_set_num_threads
    _core.blas_set_num_threads(before)
