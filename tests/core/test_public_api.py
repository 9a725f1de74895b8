"""The public surface: a sorted, complete ``__all__`` whose every name is documented."""

from __future__ import annotations

import importlib
import types

import pytest

import esper_cmds
import esper_cmds.clock
import esper_cmds.models
import esper_cmds.otel
import esper_cmds.sync
import esper_cmds.testing

PUBLIC_MODULES = [
    esper_cmds,
    esper_cmds.clock,
    esper_cmds.models,
    esper_cmds.otel,
    esper_cmds.sync,
    esper_cmds.testing,
]


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_sorted_and_unique(module: types.ModuleType) -> None:
    """``__all__`` is sorted (plain string order, as ruff's RUF022 keeps it) and has no repeats."""
    names = list(module.__all__)
    assert names == sorted(names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_every_exported_name_is_importable_and_documented(module: types.ModuleType) -> None:
    """Each name in ``__all__`` exists and has its own docstring."""
    for name in module.__all__:
        value = getattr(module, name)
        # __doc__, not inspect.getdoc: a class must not get by on its parent's docstring.
        assert (value.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"
        exec(f"from {module.__name__} import {name}", {})  # the import form users write


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_complete(module: types.ModuleType) -> None:
    """Every public class or function the module offers is listed in ``__all__``."""
    offered = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "").startswith("esper_cmds")
    }
    assert offered <= set(module.__all__), offered - set(module.__all__)


def test_models_are_re_exported_at_the_top() -> None:
    """Every model is importable from ``esper_cmds`` as well as ``esper_cmds.models``."""
    missing = set(esper_cmds.models.__all__) - set(esper_cmds.__all__)
    assert missing == set()
    for name in esper_cmds.models.__all__:
        assert getattr(esper_cmds, name) is getattr(esper_cmds.models, name)


def test_every_error_is_an_esper_error() -> None:
    """Every exported exception class sits under `EsperError`."""
    errors = [
        getattr(esper_cmds, n)
        for n in esper_cmds.__all__
        if isinstance(getattr(esper_cmds, n), type)
        and issubclass(getattr(esper_cmds, n), BaseException)
    ]
    assert len(errors) >= 10
    for error in errors:
        assert issubclass(error, esper_cmds.EsperError), error


def test_private_modules_are_private() -> None:
    """Implementation modules start with an underscore; models, simulator, testing, clock, demo,
    sync and otel are public."""
    package = importlib.import_module("esper_cmds")
    public = {
        name
        for name, value in vars(package).items()
        if isinstance(value, types.ModuleType) and not name.startswith("_")
    }
    assert public <= {"clock", "demo", "models", "otel", "simulator", "sync", "testing"}
