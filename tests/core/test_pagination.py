"""AsyncPager: forwards, backwards, cycles, foreign links, prefetch and bounded collection."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import uuid
from contextlib import aclosing
from typing import Any

import anyio.lowlevel
import httpx
import pytest

from esper_cmds import (
    APIStatusError,
    AsyncPager,
    CommandStatus,
    DeviceGroup,
    PaginationError,
    ValidationError,
)

from .._support import BASE_URL, ENTERPRISE_ID, make_client, make_router, status_json
from ._drf import PATH, PagedServer


def names(groups: list[DeviceGroup]) -> list[str]:
    """The names of some groups, to compare against the server's order."""
    return [g.name for g in groups]


def expected(server: PagedServer, start: int = 0, stop: int | None = None) -> list[str]:
    """The names the server holds, in order."""
    return [server.item(i)["name"] for i in range(start, server.total if stop is None else stop)]


def client_for(server: PagedServer) -> Any:
    """An EsperClient whose transport is `server`."""
    return make_client(make_router(), transport=server.transport)


@pytest.mark.anyio
async def test_iterates_every_item_across_pages_in_order() -> None:
    """``async for`` yields every item once, in order, one request per page."""
    server = PagedServer(45)
    async with client_for(server) as client:
        got = [g.name async for g in client.groups.list(page_size=10)]
    assert got == expected(server)
    assert server.offsets() == [0, 10, 20, 30, 40]
    assert server.max_in_flight == 1


@pytest.mark.anyio
async def test_pages_expose_count_and_links() -> None:
    """``.pages()`` yields `Page` objects with the server's count, next and previous."""
    server = PagedServer(25)
    async with client_for(server) as client:
        pages = [p async for p in client.groups.list(page_size=10).pages()]
    assert [len(p.results) for p in pages] == [10, 10, 5]
    assert {p.count for p in pages} == {25}
    assert pages[0].previous is None
    assert pages[0].next == server.link(10, 10)
    assert pages[-1].next is None


@pytest.mark.anyio
async def test_stops_only_when_next_is_null_not_on_count() -> None:
    """A count that is too small does not end the listing; only a null ``next`` does."""
    server = PagedServer(30, reported_count=3)
    async with client_for(server) as client:
        got = await client.groups.list(page_size=10).to_list(max_items=100)
    assert len(got) == 30
    assert names(got) == expected(server)


@pytest.mark.anyio
async def test_empty_page_with_a_next_link_is_followed() -> None:
    """An empty page that still has ``next`` is followed to the items after it."""
    server = PagedServer(30)

    def empty_middle(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "results": []} if offset == 10 else body

    server.rewrite = empty_middle
    async with client_for(server) as client:
        got = await client.groups.list(page_size=10).to_list(max_items=100)
    assert names(got) == expected(server, 0, 10) + expected(server, 20, 30)
    assert server.offsets() == [0, 10, 20]


@pytest.mark.anyio
async def test_link_cycle_is_refused() -> None:
    """A ``next`` link back to a page already read raises `PaginationError` instead of looping."""
    server = PagedServer(30)

    def loop_back(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": server.link(limit, 10)} if offset == 20 else body

    server.rewrite = loop_back
    seen: list[str] = []

    async def read_all() -> None:
        async for group in client.groups.list(page_size=10):
            seen.append(group.name)  # noqa: PERF401  # kept item by item to see what came before

    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="cycle"):
            await read_all()
    assert seen == expected(server)
    assert len(server.requests) == 3


@pytest.mark.anyio
async def test_self_link_cycle_is_refused() -> None:
    """A page whose ``next`` is itself is caught on the first repeat."""
    server = PagedServer(30)

    def self_loop(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": server.link(limit, offset)} if offset == 10 else body

    server.rewrite = self_loop
    async with client_for(server) as client:
        with pytest.raises(PaginationError):
            await client.groups.list(page_size=10).to_list(max_items=100)
    assert server.offsets() == [0, 10]


@pytest.mark.anyio
async def test_foreign_links_are_rebased_onto_the_base_url() -> None:
    """Links from another origin are followed on the configured host, path and query kept."""
    server = PagedServer(25, link_origin="http://internal-host:8080")
    async with client_for(server) as client:
        got = await client.groups.list(page_size=10).to_list(max_items=100)
    assert names(got) == expected(server)
    for request in server.requests:
        assert str(request.url).startswith(f"{BASE_URL}/")
        assert request.headers["Authorization"].startswith("Bearer ")
    assert (
        str(server.requests[1].url) == f"{BASE_URL}{PATH.removeprefix('/api')}?limit=10&offset=10"
    )


@pytest.mark.parametrize(
    "bad_link",
    [
        "http://127.0.0.1:8000/admin/?limit=10&offset=10",
        "https://evil.example/elsewhere/?limit=10&offset=10",
        "http://127.0.0.1:8000/api/../admin/?offset=10",
        "http://127.0.0.1:8000/apiary/?offset=10",
        "not a url at all ::::",
    ],
)
@pytest.mark.anyio
async def test_links_leaving_the_api_base_path_are_refused(bad_link: str) -> None:
    """A link whose path is outside the API's base path is refused, and nothing is sent to it."""
    server = PagedServer(30)

    def escape(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": bad_link}

    server.rewrite = escape
    async with client_for(server) as client:
        with pytest.raises(PaginationError):
            await client.groups.list(page_size=10).to_list(max_items=100)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_walk_back_follows_previous_to_the_first_page() -> None:
    """``walk_back`` yields the earlier pages, nearest first, until ``previous`` is null."""
    server = PagedServer(45)
    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        pages = [p async for p in pager.pages()]
        last = pages[-1]
        back = [p async for p in pager.walk_back(last)]
    assert [names(list(p.results)) for p in back] == [
        expected(server, 30, 40),
        expected(server, 20, 30),
        expected(server, 10, 20),
        expected(server, 0, 10),
    ]
    assert back[-1].previous is None


@pytest.mark.anyio
async def test_walk_back_from_a_fetched_link_and_cycle_guard() -> None:
    """``fetch_page`` jumps to any link; a ``previous`` cycle raises `PaginationError`."""
    server = PagedServer(50)
    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        middle = await pager.fetch_page(server.link(10, 30))
        assert names(list(middle.results)) == expected(server, 30, 40)

        def loop(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
            return {**body, "previous": server.link(limit, 20)} if offset == 10 else body

        server.rewrite = loop
        with pytest.raises(PaginationError, match="cycle"):
            async for _ in pager.walk_back(middle):
                pass


@pytest.mark.anyio
async def test_to_list_fetches_only_what_it_needs() -> None:
    """``to_list(max_items=n)`` returns n items and stops requesting pages once it has them."""
    server = PagedServer(100)
    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        got = await pager.to_list(max_items=15)
        assert names(got) == expected(server, 0, 15)
        assert server.offsets() == [0, 10]
        assert await pager.to_list(max_items=0) == []
        assert len(server.requests) == 2
        everything = await pager.to_list(max_items=10_000)
    assert names(everything) == expected(server)


@pytest.mark.parametrize("bad", [-1, True, 1.5])
@pytest.mark.anyio
async def test_to_list_refuses_a_bad_bound(bad: Any) -> None:
    """A negative or non-integer bound is refused by name."""
    server = PagedServer(5)
    async with client_for(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.groups.list().to_list(max_items=bad)
    assert caught.value.field == "max_items"
    assert server.requests == []


@pytest.mark.anyio
async def test_page_size_sets_limit_and_default_is_the_servers() -> None:
    """``page_size`` becomes ``limit``; without it the server's default page size applies."""
    server = PagedServer(45, default_limit=20)
    async with client_for(server) as client:
        await client.groups.list().to_list(max_items=100)
        assert "limit" not in server.requests[0].url.params
        assert server.offsets() == [0, 20, 40]
        for bad in (0, 1001, True):
            with pytest.raises(ValidationError):
                client.groups.list(page_size=bad)


@pytest.mark.anyio
async def test_pager_is_lazy_reusable_and_stops_on_break() -> None:
    """Nothing is fetched until iteration; each iteration starts over; a break stops requests."""
    server = PagedServer(50)
    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        assert isinstance(pager, AsyncPager)
        assert server.requests == []
        async with aclosing(aiter(pager)) as items:
            async for group in items:
                if group.name == expected(server)[12]:
                    break
        assert len(server.requests) == 2
        first_again = await pager.first_page()
    assert names(list(first_again.results)) == expected(server, 0, 10)
    assert "devicegroup" in repr(pager)


@pytest.mark.parametrize("prefetch", [1, 3, 8])
@pytest.mark.anyio
async def test_prefetch_yields_the_same_pages_in_order(prefetch: int) -> None:
    """With prefetch, pages come in the same order and number as without."""
    server = PagedServer(95)
    async with client_for(server) as client:
        pages = [p async for p in client.groups.list(page_size=10).pages(prefetch=prefetch)]
    flat = [g.name for p in pages for g in p.results]
    assert flat == expected(server)
    assert len(pages) == 10
    assert sorted(server.offsets()) == list(range(0, 100, 10))


@pytest.mark.parametrize("prefetch", [2, 4])
@pytest.mark.anyio
async def test_prefetch_is_concurrent_and_read_ahead_is_bounded(prefetch: int) -> None:
    """Prefetch fetches pages concurrently, never more than prefetch+1 at once or ahead."""
    server = PagedServer(200)
    async with client_for(server) as client:
        index = 0
        async for _page in client.groups.list(page_size=10).pages(prefetch=prefetch):
            # When page i reaches the caller, at most prefetch+1 pages beyond it were requested.
            assert len(server.requests) <= index + 1 + prefetch + 1
            index += 1
    assert index == 20
    assert server.max_in_flight == prefetch + 1


@pytest.mark.anyio
async def test_prefetch_trusts_the_servers_last_page_over_count() -> None:
    """A count larger than the listing does not add pages: the null ``next`` ends it."""
    server = PagedServer(25, reported_count=1000)
    async with client_for(server) as client:
        got = [
            g async for p in client.groups.list(page_size=10).pages(prefetch=5) for g in p.results
        ]
    assert names(got) == expected(server)


@pytest.mark.anyio
async def test_prefetch_follows_next_beyond_a_stale_count() -> None:
    """A count smaller than the listing: prefetch stops at count, then ``next`` is followed."""
    server = PagedServer(60, reported_count=25)
    async with client_for(server) as client:
        got = await _collect(client.groups.list(page_size=10), prefetch=3)
    assert names(got) == expected(server)


@pytest.mark.anyio
async def test_prefetch_falls_back_for_links_without_limit_offset() -> None:
    """Cursor-style links cannot be computed ahead, so they are followed one at a time."""
    server = PagedServer(30)

    def cursor(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        if body["next"] is None:
            return body
        return {**body, "next": f"{server.link_origin}{PATH}?cursor=c{offset}&offset={offset + 10}"}

    server.rewrite = cursor
    async with client_for(server) as client:
        got = await _collect(client.groups.list(page_size=10), prefetch=4)
    assert names(got) == expected(server)
    assert server.max_in_flight == 1


@pytest.mark.anyio
async def test_prefetch_error_surfaces_as_itself() -> None:
    """One failing page raises its own error (not an ExceptionGroup) and ends the listing."""
    server = PagedServer(100)
    server.fail_offsets = {40}
    async with client_for(server) as client:
        with pytest.raises(APIStatusError) as caught:
            await _collect(client.groups.list(page_size=10), prefetch=3)
    assert caught.value.status_code == 404


@pytest.mark.anyio
async def test_prefetch_refuses_a_negative_value() -> None:
    """``prefetch`` must be 0 or more."""
    server = PagedServer(5)
    async with client_for(server) as client:
        with pytest.raises(ValidationError) as caught:
            await _collect(client.groups.list(), prefetch=-1)
    assert caught.value.field == "prefetch"


async def _collect(pager: AsyncPager[DeviceGroup], *, prefetch: int) -> list[DeviceGroup]:
    return [g async for p in pager.pages(prefetch=prefetch) for g in p.results]


@pytest.mark.parametrize("prefetch", [1, 3, 6])
@pytest.mark.anyio
async def test_prefetch_is_a_sliding_window_not_batches(prefetch: int) -> None:
    """Each response that comes is replaced by a request at once, even while the caller holds
    a page: never more than prefetch + 1 requests in flight, and never more than
    2 * (prefetch + 1) pages fetched ahead of the caller (bounded memory)."""
    server = PagedServer(300)
    sent: list[int] = []
    async with client_for(server) as client:
        async for _page in client.groups.list(page_size=10).pages(prefetch=prefetch):
            for _ in range(20):  # let the requests just started reach the server
                await anyio.lowlevel.checkpoint()
            sent.append(len(server.requests))
    window = prefetch + 1
    # The first page alone (it gives count and the limit). While the caller held it, the
    # answers that came were replaced at once until 2 * window pages were ahead of it; taking
    # page 1 let one more go out. (Refilling only as pages are taken would give prefetch + 2.)
    assert sent[:2] == [1, min(2 * window + 2, 30)]
    assert all(n <= min(i + 2 * window + 1, 30) for i, n in enumerate(sent))
    assert sent[-1] == 30
    assert server.max_in_flight == window


@pytest.mark.anyio
async def test_prefetch_delivers_the_pages_before_a_failed_one_then_its_error() -> None:
    """A failed page does not cancel the rest: the pages before it arrive, in order, and then
    its own error, in its turn."""
    server = PagedServer(100)
    server.fail_offsets = {40}
    got: list[str] = []

    async def read(pager: AsyncPager[DeviceGroup]) -> None:
        async with aclosing(pager.pages(prefetch=3)) as pages:
            async for page in pages:
                got.extend(g.name for g in page.results)

    async with client_for(server) as client:
        with pytest.raises(APIStatusError) as caught:
            await read(client.groups.list(page_size=10))
    assert caught.value.status_code == 404
    assert got == expected(server, 0, 40)


@pytest.mark.anyio
async def test_leaving_a_prefetching_listing_early_cancels_its_requests() -> None:
    """Closing the page iterator mid-way cancels the requests still in flight and releases
    their slots: the client goes on working with the same pool."""
    server = PagedServer(500)
    async with client_for(server) as client:
        async with aclosing(client.groups.list(page_size=10).pages(prefetch=8)) as pages:
            async for page in pages:
                if page.results[0].name == "group-0030":
                    break
        sent = len(server.requests)
        # 4 pages taken, at most 2 * (8 + 1) fetched ahead of them, and nothing after the close
        assert sent <= 4 + 2 * 9
        assert server.in_flight == 0
        again = await client.groups.list(page_size=10).to_list(max_items=25)
    assert names(again) == expected(server, 0, 25)


@pytest.mark.anyio
async def test_prefetched_pages_match_sequential_pages_exactly() -> None:
    """The same Page objects (count, links, items) with and without prefetch."""
    server = PagedServer(57)
    async with client_for(server) as client:
        plain = [p async for p in client.groups.list(page_size=10).pages()]
        ahead = [p async for p in client.groups.list(page_size=10).pages(prefetch=4)]
    assert ahead == plain


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_prefetching_listing_left_without_aclosing_stops_and_says_so() -> None:
    """Left early without ``aclosing`` (asyncio allows it), the listing is closed later by the
    garbage collector from another task: its requests are cancelled, the caller's task goes on
    uncancelled, and the error asyncio reports names the fix."""
    reported: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context["exception"]))
    server = PagedServer(500)
    async with client_for(server) as client:
        async for page in client.groups.list(page_size=10).pages(prefetch=8):
            if page.results[0].name == "group-0030":
                break
        gc.collect()
        await anyio.sleep(0.05)
        assert server.in_flight == 0
        sent = len(server.requests)
        await anyio.sleep(0.05)
        assert len(server.requests) == sent  # nothing more was requested
        again = await client.groups.list(page_size=10).to_list(max_items=25)
    assert names(again) == expected(server, 0, 25)
    gc.collect()
    await anyio.lowlevel.checkpoint()
    assert any("aclosing" in str(exc) for exc in reported)
    loop.set_exception_handler(None)


@pytest.mark.anyio
async def test_to_list_without_a_bound_collects_every_item() -> None:
    """``to_list(max_items=None)`` follows ``next`` to the end and returns every item, in order."""
    server = PagedServer(45)
    async with client_for(server) as client:
        everything = await client.groups.list(page_size=10).to_list(max_items=None)
    assert names(everything) == expected(server)
    assert server.offsets() == [0, 10, 20, 30, 40]


@pytest.mark.anyio
async def test_to_list_without_a_bound_keeps_the_walk_guards() -> None:
    """Unbounded collection still stops at a link cycle instead of growing forever."""
    server = PagedServer(30)
    server.rewrite = lambda offset, limit, body: {**body, "next": server.link(limit, 0)}
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="cycle"):
            await client.groups.list(page_size=10).to_list(max_items=None)
    assert server.offsets() == [0]


@pytest.mark.anyio
async def test_to_list_with_prefetch_reads_ahead_and_keeps_the_order() -> None:
    """``to_list(prefetch=k)`` keeps up to k + 1 requests in flight and returns items in order."""
    server = PagedServer(95)
    async with client_for(server) as client:
        everything = await client.groups.list(page_size=10).to_list(max_items=None, prefetch=3)
        bounded = await client.groups.list(page_size=10).to_list(max_items=25, prefetch=3)
    assert names(everything) == expected(server)
    assert names(bounded) == expected(server, 0, 25)
    assert server.max_in_flight == 4


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
@pytest.mark.anyio
async def test_to_list_refuses_a_bad_prefetch(bad: Any) -> None:
    """A prefetch that is not a count is refused by name before anything is sent."""
    server = PagedServer(5)
    async with client_for(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.groups.list().to_list(max_items=None, prefetch=bad)
    assert caught.value.field == "prefetch"
    assert server.requests == []


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's collector is incremental")
@pytest.mark.anyio
async def test_iterating_never_has_a_page_alive_in_a_middle_generation_collection() -> None:
    """While items are iterated, no page of the listing is alive when the collector collects its
    middle generation: what is alive then is promoted to the oldest generation, and pages
    promoted there (each soon garbage) set off full collections of the whole process."""
    size, pages = 200, 30
    request_id = str(uuid.uuid4())  # statuses other tests left alive are not this listing's

    def body(offset: int) -> bytes:
        end = offset + size
        link = f"{BASE_URL}/v0/enterprise/{ENTERPRISE_ID}/command/{request_id}/status/"
        return json.dumps(
            {
                "count": size * pages,
                "next": f"{link}?limit={size}&offset={end}" if end < size * pages else None,
                "previous": None,
                "results": [status_json(i, request=request_id) for i in range(offset, end)],
            }
        ).encode()

    bodies = {offset: body(offset) for offset in range(0, size * pages, size)}

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        return httpx.Response(200, content=bodies[offset])

    alive_at_middle: list[int] = []
    middle_collections = 0

    def watch(phase: str, info: dict[str, int]) -> None:
        nonlocal middle_collections
        if phase == "start" and info["generation"] == 1:
            middle_collections += 1
            young = gc.get_objects(generation=0) + gc.get_objects(generation=1)
            alive_at_middle.append(
                sum(1 for o in young if type(o) is CommandStatus and str(o.request) == request_id)
            )

    items = 0
    gc.callbacks.append(watch)
    try:
        async with make_client(make_router(), transport=httpx.MockTransport(handler)) as client:
            async for _status in client.commands.statuses(request_id, page_size=size):
                items += 1
    finally:
        gc.callbacks.remove(watch)
    assert items == size * pages
    assert middle_collections >= 2  # ~one per ten pages: the check did run
    assert max(alive_at_middle) <= 1  # at most the item the loop still holds


@pytest.mark.anyio
async def test_prefetched_urls_keep_the_filters_and_the_limit() -> None:
    """Each prefetched URL carries the listing's filters and limit as sent, with its own offset."""
    server = PagedServer(35)
    # DRF's links carry the filters: "north, 1st & main" as the server encodes it.
    server.rewrite = lambda offset, limit, body: {
        **body,
        "next": body["next"] and f"{body['next']}&name=north%2C+1st+%26+main",
    }
    async with client_for(server) as client:
        pager = client.groups.list(name="north, 1st & main", page_size=10)
        pages = [p async for p in pager.pages(prefetch=2)]
    assert len(pages) == 4
    assert sorted(server.offsets()) == [0, 10, 20, 30]  # concurrent: in any order
    for request in server.requests:
        assert request.url.params.get_list("name") == ["north, 1st & main"]
        assert request.url.params["limit"] == "10"
