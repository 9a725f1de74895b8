"""``client.groups``: the device-group listing."""

from __future__ import annotations

from .._pagination import AsyncPager
from ..models import DeviceGroup, Page
from .base import Resource, query

__all__ = ["Groups"]


class Groups(Resource):
    """Device groups: ``/enterprise/{eid}/devicegroup/``."""

    def list(
        self, *, name: str | None = None, page_size: int | None = None
    ) -> AsyncPager[DeviceGroup]:
        """List the enterprise's device groups.

        Args:
            name: Group name.
            page_size: Items per page (the API's default is 20).
        """
        return AsyncPager(
            self._transport,
            self._v1("/devicegroup/"),
            Page[DeviceGroup],
            params=query({"name": name}),
            page_size=page_size,
        )
