"""Django REST Framework's LimitOffsetPagination, as Esper's list endpoints serve it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["DEFAULT_LIMIT", "Window", "page_links", "parse_window"]

DEFAULT_LIMIT = 20


class Window:
    """The `limit` and `offset` of one page request."""

    __slots__ = ("limit", "offset")

    def __init__(self, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


def _positive(raw: str | None, *, strict: bool) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < 0 or (strict and value == 0):
        return None
    return value


def parse_window(query: Mapping[str, str], *, max_limit: int) -> Window:
    """Read limit/offset the way DRF does: bad values fall back to the defaults, limit is capped."""
    limit = _positive(query.get("limit"), strict=True)
    limit = DEFAULT_LIMIT if limit is None else min(limit, max_limit)
    offset = _positive(query.get("offset"), strict=False) or 0
    return Window(limit, offset)


def _with_query(url: str, updates: Mapping[str, str | None]) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in updates]
    pairs += [(k, v) for k, v in updates.items() if v is not None]
    return urlunsplit((scheme, netloc, path, urlencode(pairs), fragment))


def page_links(url: str, window: Window, count: int) -> tuple[str | None, str | None]:
    """Absolute `next` and `previous` links for `window` over `count` items (None at the ends)."""
    limit, offset = window.limit, window.offset
    next_url = None
    if offset + limit < count:
        next_url = _with_query(url, {"limit": str(limit), "offset": str(offset + limit)})
    previous_url = None
    if offset > 0:
        # DRF drops `offset` from the first page's link rather than writing offset=0.
        back = offset - limit
        previous_url = _with_query(
            url, {"limit": str(limit), "offset": str(back) if back > 0 else None}
        )
    return next_url, previous_url


def page(url: str, window: Window, count: int, results: list[Any]) -> dict[str, Any]:
    """The page envelope."""
    next_url, previous_url = page_links(url, window, count)
    return {"count": count, "next": next_url, "previous": previous_url, "results": results}
