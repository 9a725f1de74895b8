"""Hostile listings end: links past the count, changing parameters, and links httpx refuses.

Each test here failed on the main of 2026-11-28 (issue 10): a server linking to empty pages past
its count kept ``to_list(max_items=10)`` paging forever, an extra parameter changing on every
link defeated the cycle guard, and ``%0d%0a`` or a backslash in a link's path escaped as
``httpx.InvalidURL`` or passed the base-path check.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import pytest

from esper_cmds import NotFoundError, PaginationError, ValidationError

from .._support import BASE_URL, make_client, make_router
from ._drf import PATH, PagedServer


def client_for(server: PagedServer) -> Any:
    """An EsperClient whose transport is `server`."""
    return make_client(make_router(), transport=server.transport)


@pytest.mark.anyio
async def test_empty_pages_past_the_count_end_the_listing() -> None:
    """Five items, then empty pages that always link on: the listing ends after the first empty
    page past the count, with the five items."""
    server = PagedServer(5)

    def forever(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": server.link(limit, offset + limit)}

    server.rewrite = forever
    async with client_for(server) as client:
        items = await client.groups.list(page_size=5).to_list(max_items=10)
        every = [g async for g in client.groups.list(page_size=5)]
    assert len(items) == len(every) == 5
    assert len(server.requests) == 4  # two pages per walk: the items, and one empty page


@pytest.mark.anyio
async def test_empty_pages_that_never_reach_the_count_are_refused() -> None:
    """A count of 100 and nothing but empty pages linking on: `PaginationError` after a few."""
    server = PagedServer(0, reported_count=100)

    def forever(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": server.link(limit, offset + limit)}

    server.rewrite = forever
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="empty pages in a row"):
            await client.groups.list(page_size=5).to_list(max_items=10)
    assert len(server.requests) <= 10


@pytest.mark.anyio
async def test_a_changing_extra_parameter_does_not_defeat_the_cycle_guard() -> None:
    """Every link points at offset 10 with a fresh ``nonce``: the second is the same page."""
    server = PagedServer(30)
    nonce = iter(range(10**6))

    def loop(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": f"{server.link(limit, 10)}&nonce={next(nonce)}"}

    server.rewrite = loop
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="cycle"):
            await client.groups.list(page_size=10).to_list(max_items=1000)
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_reordered_parameters_are_the_same_page() -> None:
    """``offset=10&limit=10`` is the page ``limit=10&offset=10`` already read."""
    server = PagedServer(30)

    def swap(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        if offset == 10:
            return {**body, "next": f"http://127.0.0.1:8000{PATH}?offset=10&limit={limit}"}
        return body

    server.rewrite = swap
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="cycle"):
            await client.groups.list(page_size=10).to_list(max_items=1000)


@pytest.mark.parametrize(
    "link",
    [
        f"http://127.0.0.1:8000{PATH}%0d%0aX-Injected:%201?limit=10&offset=10",
        f"http://127.0.0.1:8000{PATH}..%2F..%2F..%2Fadmin/?limit=10&offset=10",
        "http://127.0.0.1:8000/api\\..\\admin/?limit=10&offset=10",
        f"http://127.0.0.1:8000{PATH}%00/?limit=10",
        "http://[::1/api/",
    ],
    ids=["crlf", "encoded-dotdot", "backslash", "nul", "bad-ipv6"],
)
@pytest.mark.anyio
async def test_unusable_links_raise_pagination_error(link: str) -> None:
    """Whatever a link holds, following it either stays under the API or is `PaginationError`,
    never `httpx.InvalidURL` or a request elsewhere."""
    server = PagedServer(30)

    def hostile(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": link} if offset == 0 else body

    server.rewrite = hostile
    async with client_for(server) as client:
        with pytest.raises(PaginationError):
            await client.groups.list(page_size=10).to_list(max_items=1000)
    assert len(server.requests) == 1


@pytest.mark.parametrize("escaped", ["%3F", "%23"], ids=["question-mark", "hash"])
@pytest.mark.anyio
async def test_an_escaped_character_in_a_link_stays_escaped(escaped: str) -> None:
    """``%3F`` and ``%23`` in a path are followed as they are, still escaped (they used to
    raise `httpx.InvalidURL` when the path was decoded and rebuilt)."""
    server = PagedServer(30)
    link = f"http://10.0.0.9{PATH}{escaped}x/?limit=10&offset=10"

    def odd(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": link} if offset == 0 else body

    server.rewrite = odd
    async with client_for(server) as client:
        pages = client.groups.list(page_size=10).pages()
        await anext(pages)
        with pytest.raises(NotFoundError):  # no such path: what matters is what was asked
            await anext(pages)
        await pages.aclose()
    raw = server.requests[1].url.raw_path.decode()
    assert raw.startswith(f"{PATH}{escaped}x/?")
    assert server.requests[1].url.host == "127.0.0.1"


@pytest.mark.anyio
async def test_walking_back_along_empty_pages_is_bounded() -> None:
    """``previous`` links that lead on forever through empty pages end in `PaginationError`."""
    server = PagedServer(30)

    def backwards_forever(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "results": [], "previous": server.link(limit, offset + 1000)}

    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        page = await pager.first_page()
        server.rewrite = backwards_forever
        with pytest.raises(PaginationError, match="empty pages"):
            async for _ in pager.walk_back(attrs.evolve(page, previous=server.link(10, 5))):
                pass
    assert len(server.requests) <= 10


@pytest.mark.anyio
async def test_walk_back_and_fetch_page_check_their_argument() -> None:
    """A page that is not a `Page`, or a link that is not text, is refused as such."""
    server = PagedServer(30)
    async with client_for(server) as client:
        pager = client.groups.list(page_size=10)
        with pytest.raises(ValidationError):
            async for _ in pager.walk_back(None):
                pass
        with pytest.raises(PaginationError):
            await pager.fetch_page(5)


@pytest.mark.anyio
async def test_a_dot_segment_with_parameters_is_refused() -> None:
    """``/api/..;/admin`` is ``/admin`` to servers that drop ``;params`` (Tomcat, Spring)."""
    server = PagedServer(30)

    def sneaky(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": "http://127.0.0.1:8000/api/..;/admin/?limit=10"}

    server.rewrite = sneaky
    async with client_for(server) as client:
        with pytest.raises(PaginationError, match="leaves the API"):
            await client.groups.list(page_size=10).to_list(max_items=100)


_QUERIES = [
    "limit=10&offset=20",
    "offset=20&limit=10&name=north%2C+1st+%26+main",
    "name=caf\u00e9 bar&limit=10",
    "q=a+b%20c&x=%3F%23&y=[1]&z=~!$'()*",
    "",
    "a=1?b=2&c=/d/../e",
    "limit=10&offset=20%0d%0a",
    "limit=10&offset=20\r\nX-Injected: 1",
    "limit=10&offset=20\x00",
    "limit=10&offset=20#fragment",
]


def _transport() -> Any:
    from esper_cmds._transport import Transport

    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    return Transport(http=http, base_url=httpx.URL(BASE_URL), api_key="k")


def _rebased(transport: Any, link: str) -> str | type[PaginationError]:
    try:
        url = transport.rebase_link(link)
    except PaginationError:
        return PaginationError
    return f"{url} {url.raw_path!r} {url.host} {url.path}"


@pytest.mark.parametrize("query", _QUERIES)
@pytest.mark.parametrize("origin", ["http://internal-host:8080", "http://127.0.0.1:8000"])
def test_a_link_like_the_last_one_rebases_as_a_link_seen_first(origin: str, query: str) -> None:
    """A link whose text before ``?`` is the last link's is rebased without parsing its path
    again: what comes out (or is refused) is exactly what the full check gives for it alone."""
    link = f"{origin}{PATH}?{query}"
    seen_first = _rebased(_transport(), link)
    transport = _transport()
    assert _rebased(transport, f"{origin}{PATH}?limit=10&offset=10") != PaginationError
    assert _rebased(transport, link) == seen_first
    assert _rebased(transport, link) == seen_first  # and again, now the last link itself


@pytest.mark.parametrize(
    "link",
    [
        f"http://127.0.0.1:8000{PATH}%0d%0aX-Injected:%201?limit=10&offset=10",
        "http://127.0.0.1:8000/admin/?limit=10&offset=10",
        f"http://127.0.0.1:8000{PATH}../../../../admin/?limit=10&offset=10",
    ],
)
def test_a_hostile_link_after_a_good_one_is_still_refused(link: str) -> None:
    """The last link's check is reused only for the same text before ``?``: any other path is
    checked in full, however like the last one it looks."""
    transport = _transport()
    assert _rebased(transport, f"http://127.0.0.1:8000{PATH}?limit=10&offset=10") != (
        PaginationError
    )
    assert _rebased(transport, link) == PaginationError


@pytest.mark.parametrize("link", ["?cursor=abc", "?", "?offset=1&limit=10"])
def test_a_query_only_link_on_a_fresh_transport_is_checked_in_full(link: str) -> None:
    """Before any link has passed the full check there is no last link to compare with: a
    link that is only a query (its text before ``?`` empty) is refused, not sent hostless."""
    assert _rebased(_transport(), link) == PaginationError


@pytest.mark.anyio
async def test_a_query_only_first_next_link_is_a_pagination_error() -> None:
    """End to end: the first page's ``next`` is ``?offset=10``; nothing more is sent."""
    server = PagedServer(30)

    def relative(offset: int, limit: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "next": "?offset=10"} if offset == 0 else body

    server.rewrite = relative
    async with client_for(server) as client:
        with pytest.raises(PaginationError):
            await client.groups.list(page_size=10).to_list(max_items=1000)
    assert len(server.requests) == 1
