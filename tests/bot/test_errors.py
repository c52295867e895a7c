"""Every error raised on purpose derives from the one base, ``ParticipationBotError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import bot
import storage
from bot.errors import ParticipationBotError


def _modules(package: ModuleType) -> list[ModuleType]:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name != "__main__"
    ]


@pytest.mark.parametrize("package", [bot, storage], ids=lambda p: p.__name__)
def test_every_error_defined_derives_from_the_one_base(package: ModuleType) -> None:
    errors = [
        cls
        for module in _modules(package)
        for _name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    ]
    assert errors, "found no errors to check"
    assert [e for e in errors if not issubclass(e, ParticipationBotError)] == []


def test_storage_errors_are_bot_errors() -> None:
    from storage.database import WriteFailed
    from storage.events import EventAlreadyRecorded

    assert issubclass(WriteFailed, ParticipationBotError)
    assert issubclass(EventAlreadyRecorded, ParticipationBotError)
