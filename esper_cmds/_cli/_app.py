"""Every ``esper-cmds`` command, registered on one cyclopts application.

Strictly private. Importing this module imports cyclopts and rich (the ``[cli]`` extra).
"""

from __future__ import annotations

from . import _lookups, _sending
from ._root import app

__all__ = ["app"]

# Imported for their side effect: each module registers its commands on `app`.
del _lookups, _sending
