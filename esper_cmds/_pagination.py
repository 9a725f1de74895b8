"""`AsyncPager`: every listing, followed lazily, safely and with bounded memory."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
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
    - ``await pager.to_list(max_items=N)`` collects at most N items, ``max_items=None`` all.

    Iteration stops only when a page's ``next`` is null (an empty page with a ``next`` link is
    followed). A link seen twice raises `PaginationError` instead of looping forever, and every link
    is re-based onto the client's base URL so credentials never leave for another host.

    The iterators are async generators: to stop early and release them at once rather than at
    garbage collection (trio insists; so does ``pages(prefetch=...)`` on asyncio, whose requests
    are in flight in a task group it holds), use ``contextlib.aclosing``::

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
                results = page.results
                del page  # not held while the next page is fetched (see `pages`)
                for item in results:
                    yield item
                del results

    async def pages(self, *, prefetch: int = 0) -> AsyncGenerator[Page[T], None]:
        """Yield every page in order, following ``next`` until it is null.

        Args:
            prefetch: Read this many pages ahead: while you hold one page, the next `prefetch`
                are already requested (their URLs computed from the listing's ``count`` and the
                limit/offset of its ``next`` link), and each page you take is replaced at once
                by a request for the one after, so up to ``prefetch + 1`` requests are in flight
                and at most ``prefetch + 1`` pages are held. Pages are yielded in order; a page
                that failed raises its error when its turn comes. Only for offset-paged
                listings that are not changing while they are read (rows inserted meanwhile
                shift offsets). 0 (the default) reads one page at a time.
        """
        _check_count("prefetch", prefetch)
        walk = _Walk(self._first_url, self._transport.scrub)
        page = await self.first_page()
        walk.visit(self._first_url)
        go_on = walk.advance(page)
        yield page
        while go_on and (link := page.next) is not None:
            ahead = self._prefetch_links(link, page.count) if prefetch else None
            if ahead is not None:
                async with aclosing(self._prefetched(ahead, walk, prefetch)) as fetched:
                    async for page in fetched:  # `page` goes on from the last one
                        go_on = walk.advance(page)
                        yield page
                        if not go_on:
                            break
                continue  # past `count` (if the listing grew), ``next`` is followed as usual
            url = self._transport.rebase_link(link)
            walk.visit(url)
            # The page the caller is done with is let go before the next one is decoded: held,
            # the collector would find it alive in its middle generation and promote it to the
            # oldest, and enough of those set off full collections (see `_converter.decode`).
            del page
            page = await self._get(url)
            go_on = walk.advance(page)
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

    async def to_list(self, *, max_items: int | None, prefetch: int = 0) -> list[T]:
        """Collect the listing's items into a list.

        Args:
            max_items: Collect at most this many; the listing may hold more, which are not
                fetched. ``None`` collects every item: the list, and the memory it takes, grows
                with the listing without bound (about 0.6 KB per status and 2 KB per device, so
                100,000 statuses hold ~60 MB), so it is for listings known to be small or wanted
                whole. Required, so that every call says which.
            prefetch: Read pages ahead as ``pages(prefetch=...)`` does. With a bound, up to this
                many pages past the one that reaches it may be requested and dropped.
        """
        if max_items is not None:
            _check_count("max_items", max_items)
        _check_count("prefetch", prefetch)
        items: list[T] = []
        if max_items == 0:
            return items
        async with aclosing(self.pages(prefetch=prefetch)) as pages:
            async for page in pages:
                if max_items is None:
                    items.extend(page.results)
                    continue
                items.extend(page.results[: max_items - len(items)])
                if len(items) >= max_items:
                    break
        return items

    async def _get(self, url: httpx.URL) -> Page[T]:
        return await self._transport.request("GET", url, cast_to=self._page_type)

    def _prefetch_links(self, link: str, count: int) -> Iterator[httpx.URL] | None:
        """The URLs of the pages from the ``next`` link to the listing's ``count``, computed
        from the link's limit/offset; None when the link has no limit to compute with."""
        url = self._transport.rebase_link(link)
        try:
            limit = int(url.params["limit"])
            offset = int(url.params.get("offset", "0"))
        except (KeyError, ValueError):
            return None  # not a limit/offset link: follow it one page at a time
        if limit <= 0 or offset >= count:
            return None
        # The query without the offset, encoded once; each page's URL appends its own (what
        # copy_set_param would give, offset last, at about half the cost per page).
        rest = str(url.params.remove("offset"))
        return (
            url.copy_with(query=f"{rest}&offset={start}".encode())
            for start in range(offset, count, limit)
        )

    async def _prefetched(
        self, urls: Iterator[httpx.URL], walk: _Walk, ahead: int
    ) -> AsyncGenerator[Page[T], None]:
        """The pages at `urls`, in order, with ``ahead + 1`` requests in flight at all times: a
        sliding window, refilled as each response comes (not only as the caller takes a page), so
        a slow page at the head does not leave the window idle behind it. Pages that came ahead
        of their turn wait for it, at most ``ahead + 1`` of them: memory stays bounded by
        ``2 * (ahead + 1)`` pages. Ends after the last URL or a page whose ``next`` is null.

        A failed request does not cancel the others: its error is raised in its turn, after
        the pages before it, and from outside the task group (as itself, not in an exception
        group).

        The task group stays open while a page is out with the caller, so this generator must be
        closed in the caller's task (``aclosing``, as every iterator here does with it) if it is
        left early. Left open, it is closed later from another task by the garbage collector;
        its group then cannot be left without breaking the caller's task, so its requests are
        cancelled one by one and the collector is told why (a RuntimeError, logged).
        """
        pending: deque[_Pending[T]] = deque()
        failure: Exception | None = None
        abandoned = False
        in_flight = 0
        most = 2 * (ahead + 1)
        arrived = anyio.Event()  # set when any response comes; replaced after each wait

        def next_url() -> httpx.URL | None:
            url = next(urls, None)
            if url is not None:
                walk.visit(url)
            return url

        async def fetch(slot: _Pending[T], url: httpx.URL) -> None:
            nonlocal in_flight
            with slot.scope:
                try:
                    slot.page = await self._get(url)
                except Exception as exc:  # raised in its turn by the consumer, as itself
                    slot.error = exc
            in_flight -= 1
            slot.done.set()
            arrived.set()
            refill()  # even while the caller holds a page: the window stays full

        def refill() -> None:
            nonlocal in_flight, urls
            if abandoned or tg.cancel_scope.cancel_called:
                return  # the listing is being left: nothing more goes out
            try:
                while in_flight <= ahead and len(pending) < most and (url := next_url()):
                    slot: _Pending[T] = _Pending()
                    pending.append(slot)
                    in_flight += 1
                    tg.start_soon(fetch, slot, url)
            except PaginationError as exc:  # a cycle: the pages before it come first
                slot = _Pending()
                slot.error = exc
                slot.done.set()
                pending.append(slot)
                urls = iter(())

        tg = anyio.create_task_group()
        await tg.__aenter__()
        owner = anyio.get_current_task().id
        try:
            while True:
                # Keep the window full: a request goes out for each response that came.
                while True:
                    refill()
                    # Only wait when the head has not come: each wait, even for a page already
                    # here, lets every response that arrived meanwhile be read and decoded
                    # first, and the pages behind this one sat out that time unrefilled.
                    if not pending or pending[0].done.is_set():
                        break
                    await arrived.wait()
                    arrived = anyio.Event()
                if not pending:
                    break
                slot = pending.popleft()
                if slot.page is None:
                    failure = slot.error
                    break
                try:
                    yield slot.page
                except GeneratorExit:
                    if anyio.get_current_task().id == owner:
                        break  # closed early with aclosing: leave the group normally
                    abandoned = True
                    for waiting in pending:
                        waiting.scope.cancel()
                    raise RuntimeError(_NOT_CLOSED) from None
                if slot.page.next is None:
                    break  # the server's own last page ends the listing, not count
        except BaseException as exc:
            if abandoned:
                raise
            tg.cancel_scope.cancel()
            if not await tg.__aexit__(type(exc), exc, exc.__traceback__):
                raise
            return
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
        if failure is not None:
            raise failure


_NOT_CLOSED = (
    "AsyncPager.pages(prefetch=...) was left early without being closed; its requests were"
    " cancelled, but the task that iterated it may now fail to leave its cancel scopes. Wrap it"
    " in contextlib.aclosing() to stop early."
)


class _Pending(Generic[T]):
    """One prefetched page: its request's outcome, once ``done`` is set."""

    __slots__ = ("done", "error", "page", "scope")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.page: Page[T] | None = None
        self.error: Exception | None = None


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
