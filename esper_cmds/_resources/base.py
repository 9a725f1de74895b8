"""What every resource shares: the transport and the enterprise's URL prefixes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

from .._errors import ValidationError
from ..models import CommandState

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = ["Resource", "query", "state_filter"]


class Resource:
    """Strictly private base of the resources."""

    def __init__(self, transport: Transport, enterprise_id: uuid.UUID) -> None:
        self._transport = transport
        self._enterprise_id = enterprise_id

    def _v0(self, path: str) -> httpx.URL:
        """A Commands V2 URL: ``/v0/enterprise/{eid}`` + `path`."""
        return self._transport.url_for(f"/v0/enterprise/{self._enterprise_id}{path}")

    def _v1(self, path: str) -> httpx.URL:
        """A device/group URL, which has no version prefix: ``/enterprise/{eid}`` + `path`."""
        return self._transport.url_for(f"/enterprise/{self._enterprise_id}{path}")


def query(params: Mapping[str, object | None]) -> dict[str, str]:
    """Query parameters with unset ones dropped and values as the API spells them."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            text = str(value)
            if not text.isascii():
                try:
                    text.encode("utf-8")  # what a URL's percent-encoding needs
                except UnicodeEncodeError:
                    raise ValidationError(
                        key, "must be valid Unicode text (it holds a lone surrogate)", value
                    ) from None
            out[key] = text
    return out


def state_filter(state: CommandState | str) -> str:
    """A ``state`` filter value: Esper's exact string for a member, its value or its name.

    A string that is neither is passed on unchanged, so a state Esper adds later can be filtered.
    """
    if not isinstance(state, str) or not state.strip():
        raise ValidationError("state", "must be a CommandState or its string", state)
    if state in CommandState.__members__.values():
        return CommandState(state).value
    by_name = CommandState.__members__.get(state.upper().replace(" ", "_"))
    return state if by_name is None else by_name.value
