"""One class per API noun. Strictly private: reached through `EsperClient` attributes."""

from .commands import Commands
from .devices import Devices
from .groups import Groups

__all__ = ["Commands", "Devices", "Groups"]
