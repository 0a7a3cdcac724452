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
