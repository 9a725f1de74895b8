"""The installed version, read from the package metadata (there is no version string to edit)."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@functools.cache
def package_version() -> str:
    """The installed distribution's version, e.g. ``0.1.0.dev0``.

    ``0+unknown`` when the package is imported from a source tree that was never installed.
    """
    try:
        return version("esper-cmds")
    except PackageNotFoundError:  # pragma: no cover - only outside an installed environment
        return "0+unknown"
