"""A tiny DRF-style paged endpoint for the pager tests, with knobs for misbehaving servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.lowlevel
import httpx

from .._support import V1, status_json

PATH = f"/api{V1}/devicegroup/"


class PagedServer:
    """Serves ``count`` groups at `PATH` with limit/offset paging and absolute links.

    Records every request, the largest number in flight at once, and lets a test rewrite the
    page body (to build cycles, foreign links, wrong counts) through `rewrite`.
    """

    def __init__(
        self,
        total: int,
        *,
        link_origin: str = "http://127.0.0.1:8000",
        reported_count: int | None = None,
        default_limit: int = 20,
    ) -> None:
        self.total = total
        self.link_origin = link_origin
        self.reported_count = reported_count
        self.default_limit = default_limit
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.rewrite: Callable[[int, int, dict[str, Any]], dict[str, Any]] | None = None
        self.fail_offsets: set[int] = set()

    @property
    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this server."""
        return httpx.MockTransport(self.handle)

    def link(self, limit: int, offset: int) -> str:
        """An absolute DRF link; like DRF, offset 0 is left out."""
        query = f"limit={limit}" if offset <= 0 else f"limit={limit}&offset={offset}"
        return f"{self.link_origin}{PATH}?{query}"

    def item(self, index: int) -> dict[str, Any]:
        """The group at position `index`."""
        return {"id": status_json(index)["id"], "name": f"group-{index:04d}"}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one page request, yielding to other tasks so concurrency is observable."""
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            if request.url.path != PATH:
                return httpx.Response(404, json={"errors": [], "message": "nope", "status": 404})
            limit = int(request.url.params.get("limit", self.default_limit))
            offset = int(request.url.params.get("offset", 0))
            if offset in self.fail_offsets:
                return httpx.Response(404, json={"errors": [], "message": "gone", "status": 404})
            end = min(offset + limit, self.total)
            body: dict[str, Any] = {
                "count": self.total if self.reported_count is None else self.reported_count,
                "next": self.link(limit, end) if end < self.total else None,
                "previous": self.link(limit, max(offset - limit, 0)) if offset > 0 else None,
                "results": [self.item(i) for i in range(offset, end)],
            }
            if self.rewrite is not None:
                body = self.rewrite(offset, limit, body)
            return httpx.Response(200, json=body)
        finally:
            self.in_flight -= 1

    def offsets(self) -> list[int]:
        """The offset each request asked for, in order."""
        return [int(r.url.params.get("offset", 0)) for r in self.requests]
