"""Each package declares its public surface: an alphabetical ``__all__`` of importable names."""

from __future__ import annotations

from types import ModuleType

import pytest

import bot
import storage

PACKAGES = [bot, storage]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_sorted(package: ModuleType) -> None:
    assert package.__all__ == sorted(package.__all__)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_name_in_all_is_importable(package: ModuleType) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name
