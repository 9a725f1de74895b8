"""Devices and device groups, as far as resolving groups to devices needs them."""

from __future__ import annotations

import datetime as dt
import uuid

from attrs import frozen

__all__ = ["Device", "DeviceGroup"]


@frozen(kw_only=True)
class Device:
    """A device from the device listing. Fields the library does not use are ignored."""

    id: uuid.UUID
    device_name: str | None = None
    alias_name: str | None = None
    status: int | None = None
    state: int | None = None
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    is_active: bool | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None


@frozen(kw_only=True)
class DeviceGroup:
    """A device group from the group listing."""

    id: uuid.UUID
    name: str
    device_count: int | None = None
    path: str | None = None
    parent: str | None = None
    children_count: int | None = None
    created_on: dt.datetime | None = None
