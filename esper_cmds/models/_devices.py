"""Devices and device groups, as the device and group listings return them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

__all__ = ["Device", "DeviceGroup"]


def _trailing_uuid(link: str) -> uuid.UUID | None:
    """The id at the end of a resource URL such as ``.../devicegroup/<uuid>/`` (or a bare id)."""
    last = link.rstrip("/").rsplit("/", 1)[-1]
    try:
        return uuid.UUID(last)
    except ValueError:
        return None


@frozen(kw_only=True)
class Device:
    """A device from the device listing, with every field of Esper's ``Device`` object.

    Objects the library does not interpret (hardware, software and network details) are kept as
    the decoded JSON mappings the server sent.
    """

    id: uuid.UUID
    url: str | None = None
    """This device's own API URL."""
    device_name: str | None = None
    alias_name: str | None = None
    """The friendly name shown in the console."""
    policy_name: str | None = None
    status: int | None = None
    """Esper's numeric device status code."""
    state: int | None = None
    """Esper's numeric device state code."""
    current_command: str | None = None
    """Id of the command the device is running, as the server sends it."""
    suid: str | None = None
    """Device-generated unique id."""
    fcm_id: str | None = None
    enterprise: str | None = None
    """URL of the device's enterprise."""
    policy: str | None = None
    """URL of the device's policy."""
    user: str | None = None
    """URL of the device's user."""
    groups: tuple[str, ...] = ()
    """URLs of the groups the device belongs to (see `group_ids`)."""
    tags: tuple[str, ...] = ()
    api_level: int | None = None
    """Android API level."""
    template_name: str | None = None
    mqtt_id: str | None = None
    software_info: Mapping[str, Any] | None = None
    """``softwareInfo`` on the wire."""
    hardware_info: Mapping[str, Any] | None = None
    """``hardwareInfo`` on the wire."""
    displays: Mapping[str, Any] | None = None
    network_info: Mapping[str, Any] | None = None
    """``networkInfo`` on the wire."""
    memory_info: Mapping[str, Any] | None = None
    """``memoryInfo`` on the wire."""
    audio_constraints: Mapping[str, Any] | None = None
    """``audioConstraints`` on the wire."""
    provisioned_on: dt.datetime | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None
    emm_device: Mapping[str, Any] | None = None
    is_gms: bool | None = None
    is_active: bool | None = None
    unparsed: Mapping[str, Any] = field(factory=dict, repr=False, hash=False)
    """The JSON of fields whose value did not fit their type, by JSON key; those fields read as
    None (or empty) instead of failing the page. Empty for what the API normally sends."""

    @property
    def group_ids(self) -> tuple[uuid.UUID, ...]:
        """The ids of the device's groups, taken from the group URLs (unparseable ones skipped)."""
        return tuple(gid for link in self.groups if (gid := _trailing_uuid(link)) is not None)


@frozen(kw_only=True)
class DeviceGroup:
    """A device group from the group listing, with every field of Esper's ``DeviceGroup``."""

    id: uuid.UUID
    name: str
    device_count: int | None = None
    """Devices directly in this group."""
    path: str | None = None
    """The group's place in the hierarchy, e.g. ``/stores/berlin``."""
    parent: str | None = None
    """URL of the parent group, ``None`` for a top-level group."""
    children_count: int | None = None
    enterprise: str | None = None
    """URL of the group's enterprise."""
    created_on: dt.datetime | None = None
    unparsed: Mapping[str, Any] = field(factory=dict, repr=False, hash=False)
    """The JSON of fields whose value did not fit their type, by JSON key; those fields read as
    None (or empty) instead of failing the page. Empty for what the API normally sends."""
