"""`AsyncPager`: every listing, followed lazily, safely and with bounded memory."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import httpx

from ._errors import PaginationError, ValidationError
from .models import Page

if TYPE_CHECKING:
    from ._transport import Transport

__all__ = ["AsyncPager"]

T = TypeVar("T")

logger = logging.getLogger("esper_cmds")

MAX_PAGE_SIZE = 1000
"""The largest ``limit`` the pager asks for; Esper's listings are DRF pages and may cap lower."""


class AsyncPager(Generic[T]):
    """A listing, returned at once by every ``list``-style method; nothing is fetched until used.

    - ``async for item in pager`` yields every item, one page in memory at a time;
    - ``async for page in pager.pages()`` yields whole `Page` objects;
    - ``await pager.first_page()`` fetches just the first page;
    - ``pager.walk_back(page)`` follows ``previous`` links back from any page;
    - ``await pager.to_list(max_items=N)`` collects at most N items.

    Iteration stops only when a page's ``next`` is null (an empty page with a ``next`` link is
    followed). A link seen twice raises `PaginationError` instead of looping forever, and every link
    is re-based onto the client's base URL so credentials never leave for another host.

    The iterators are async generators: to stop early and release them at once rather than at
    garbage collection (trio insists), use ``contextlib.aclosing``::

        async with aclosing(aiter(pager)) as items:
            async for item in items:
                if done(item):
                    break

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        transport: Transport,
        url: httpx.URL,
        page_type: type[Page[T]],
        *,
        params: Mapping[str, str] | None = None,
        page_size: int | None = None,
    ) -> None:
        if page_size is not None and (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise ValidationError(
                "page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}", page_size
            )
        query = dict(params or {})
        if page_size is not None:
            query["limit"] = str(page_size)
        self._transport = transport
        self._first_url = url.copy_merge_params(query) if query else url
        self._page_type = page_type

    def __repr__(self) -> str:
        return f"AsyncPager({self._first_url.path!r}, query={self._first_url.query.decode()!r})"

    async def first_page(self) -> Page[T]:
        """Fetch the first page only."""
        return await self._get(self._first_url)

    async def fetch_page(self, link: str) -> Page[T]:
        """Fetch the page a ``next`` or ``previous`` link points to (re-based onto the base URL)."""
        return await self._get(self._transport.rebase_link(link))

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        # Close the page generator here, not at garbage collection (trio refuses the latter).
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.results:
                    yield item

    async def pages(self, *, prefetch: int = 0) -> AsyncGenerator[Page[T], None]:
        """Yield every page in order, following ``next`` until it is null.

        Args:
            prefetch: Read this many pages ahead: the next ``prefetch + 1`` pages are fetched
                concurrently (their URLs computed from the listing's ``count`` and the
                limit/offset of its ``next`` link), yielded in order, then the next batch. Faster
                for long listings; at most ``prefetch + 1`` pages are held at once. Only for
                offset-paged listings that are not changing while they are read (rows inserted
                meanwhile shift offsets). 0 (the default) reads one page at a time.
        """
        _check_count("prefetch", prefetch)
        walk = _Walk(self._first_url, self._transport.scrub)
        page = await self.first_page()
        walk.visit(self._first_url)
        yield page
        while (link := page.next) is not None and walk.advance(page):
            batch = self._prefetch_links(link, page.count, prefetch) if prefetch else []
            if batch:
                pages = await self._get_many(batch, walk)
                for fetched in pages:
                    yield fetched
                    if fetched is not pages[-1] and not walk.advance(fetched):
                        return
                page = pages[-1]
                continue
            url = self._transport.rebase_link(link)
            walk.visit(url)
            page = await self._get(url)
            yield page

    async def walk_back(self, page: Page[T]) -> AsyncGenerator[Page[T], None]:
        """Yield the pages before `page`, nearest first, following ``previous`` until it is null."""
        if not isinstance(page, Page):
            raise ValidationError("page", "must be a Page this listing returned", page)
        walk = _Walk(self._first_url, self._transport.scrub)
        while page.previous is not None:
            url = self._transport.rebase_link(page.previous)
            walk.visit(url)
            page = await self._get(url)
            yield page
            if not walk.advance(page, backwards=True):
                return

    async def to_list(self, *, max_items: int) -> list[T]:
        """Collect at most `max_items` items; the listing may hold more, which are not fetched."""
        _check_count("max_items", max_items)
        items: list[T] = []
        if max_items == 0:
            return items
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                items.extend(page.results[: max_items - len(items)])
                if len(items) >= max_items:
                    break
        return items

    async def _get(self, url: httpx.URL) -> Page[T]:
        return await self._transport.request("GET", url, cast_to=self._page_type)

    def _prefetch_links(self, link: str, count: int, prefetch: int) -> list[httpx.URL]:
        """The next pages' URLs from the ``next`` link's limit/offset and the listing's count."""
        url = self._transport.rebase_link(link)
        try:
            limit = int(url.params["limit"])
            offset = int(url.params.get("offset", "0"))
        except (KeyError, ValueError):
            return []  # not a limit/offset link: follow it one page at a time
        if limit <= 0:
            return []
        links = []
        for i in range(prefetch + 1):
            start = offset + i * limit
            if start >= count:
                break
            links.append(url.copy_set_param("offset", str(start)))
        return links

    async def _get_many(self, urls: list[httpx.URL], walk: _Walk) -> list[Page[T]]:
        for url in urls:
            walk.visit(url)
        results: list[Page[T] | None] = [None] * len(urls)
        failures: list[Exception] = []

        async with anyio.create_task_group() as tg:

            async def fetch(index: int, url: httpx.URL) -> None:
                try:
                    results[index] = await self._get(url)
                except Exception as exc:  # re-raised below as itself, not as an ExceptionGroup
                    failures.append(exc)
                    tg.cancel_scope.cancel()

            for index, url in enumerate(urls):
                tg.start_soon(fetch, index, url)
        if failures:
            raise failures[0]
        pages = [p for p in results if p is not None]
        # The server's own last page decides where the listing ends, not our arithmetic.
        for i, fetched in enumerate(pages):
            if fetched.next is None:
                return pages[: i + 1]
        return pages


def _check_count(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(field, "must be an integer, 0 or more", value)


MAX_EMPTY_PAGES = 5
"""Empty pages in a row, each linking to another, after which a listing is refused."""

_PAGING_PARAMS = frozenset({"limit", "offset", "cursor", "page", "page_size"})


class _Walk:
    """Strictly private: what one walk along a listing's links has seen, to stop it safely.

    - A link is a cycle if it names a page already visited. Pages are told apart by their path
      and by the query parameters that define the listing (the first URL's filters and the
      paging parameters), sorted: an extra parameter that changes on every link (a timestamp, a
      nonce) does not make an old page new.
    - An empty page whose ``next`` link points on, once the listing has yielded as many items as
      its own ``count``, ends the walk: the server is linking past its end. More than
      `MAX_EMPTY_PAGES` empty pages in a row raise `PaginationError` whatever the count says.
    """

    def __init__(self, first_url: httpx.URL, scrub: Callable[[str], str]) -> None:
        self._scrub = scrub
        self._names = _PAGING_PARAMS | set(first_url.params.keys())
        self._seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self._received = 0
        self._empty_run = 0

    def visit(self, url: httpx.URL) -> None:
        """Record a page about to be fetched; raise `PaginationError` if it was seen before."""
        params = tuple(sorted((k, v) for k, v in url.params.multi_items() if k in self._names))
        key = (url.path, params)
        if key in self._seen:
            shown = self._scrub(f"{url.path}?{url.query.decode()}")
            raise PaginationError(f"pagination link cycle: {shown} was already visited")
        self._seen.add(key)

    def advance(self, page: Page[Any], *, backwards: bool = False) -> bool:
        """Count `page`'s items; whether its ``next`` link is worth following (or ``previous``
        when walking back, where the count says nothing about what lies behind)."""
        self._received += len(page.results)
        if page.results:
            self._empty_run = 0
            return True
        self._empty_run += 1
        if not backwards and self._received >= page.count:
            logger.warning(
                "a listing linked past its end (%d items yielded, count %d); stopped",
                self._received, page.count,
            )  # fmt: skip
            return False
        if self._empty_run > MAX_EMPTY_PAGES:
            raise PaginationError(
                f"{self._empty_run} empty pages in a row, each linking to another, with"
                f" {self._received} of {page.count} items yielded: refusing to follow further"
            )
        return True
