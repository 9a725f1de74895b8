"""The options every command shares: where the API is, who we are, how to print.

Strictly private.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from cyclopts import Group, Parameter

from .. import EsperClient, TransportEvent
from ._output import Mode, Output

__all__ = ["Common", "make_client"]

CONNECTION = Group("Connection (or ESPER_* environment variables)", sort_key=90)
OUTPUT = Group("Output", sort_key=95)


@Parameter(name="*")
@dataclass
class Common:
    """Connection and output options, on every command."""

    api_key: Annotated[str | None, Parameter(group=CONNECTION, show_default=False)] = None
    """API key; default ESPER_API_KEY. Prefer the variable: flags show up in `ps`."""

    tenant: Annotated[str | None, Parameter(group=CONNECTION, show_default=False)] = None
    """Tenant name (https://TENANT-api.esper.cloud/api); default ESPER_TENANT."""

    base_url: Annotated[str | None, Parameter(group=CONNECTION, show_default=False)] = None
    """API root instead of --tenant (e.g. a simulator's); default ESPER_BASE_URL."""

    enterprise: Annotated[str | None, Parameter(group=CONNECTION, show_default=False)] = None
    """Enterprise id; default ESPER_ENTERPRISE_ID."""

    output: Annotated[Mode | None, Parameter(group=OUTPUT, show_default=False)] = None
    """table, json or jsonl; default table on a terminal, json into a pipe or file."""

    debug: Annotated[bool, Parameter(group=OUTPUT, show_default=False)] = False
    """Show tracebacks and the client's debug log."""

    def out(self) -> Output:
        """The output for this run."""
        return Output(self.output, debug=self.debug)


def make_client(
    common: Common | None, on_event: Callable[[TransportEvent], None] | None = None
) -> EsperClient:
    """A client from the flags, falling back to the ESPER_* variables (the client reads them)."""
    common = common or Common()
    return EsperClient(
        api_key=common.api_key,
        tenant=common.tenant,
        base_url=common.base_url,
        enterprise_id=common.enterprise,
        on_event=on_event,
    )
