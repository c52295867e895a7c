"""These tests run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import pytest

from tests.conftest import parametrize_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)
