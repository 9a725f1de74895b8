"""The one path every request takes: auth, error mapping and decoding.

Strictly private. Resources call `Transport.request` with a path (or a link from a page) and the
model to decode into; they never touch httpx or JSON themselves.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx

from ._converter import structure
from ._errors import (
    ConnectionError,
    EsperError,
    MalformedResponseError,
    PaginationError,
    TimeoutError,
    status_error,
)

__all__ = ["Transport"]

T = TypeVar("T")

_BODY_EXCERPT = 2000


class Transport:
    """Strictly private: sends requests for one `EsperClient`."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: httpx.URL, api_key: str) -> None:
        self._http = http
        self._base_url = base_url
        self._auth = f"Bearer {api_key}"

    @property
    def base_url(self) -> httpx.URL:
        """The configured API root, e.g. ``https://acme-api.esper.cloud/api``."""
        return self._base_url

    def url_for(self, path: str) -> httpx.URL:
        """The absolute URL of an API path such as ``/v0/enterprise/{eid}/command/``."""
        return self._base_url.copy_with(path=self._base_url.path.rstrip("/") + path)

    def rebase_link(self, link: str) -> httpx.URL:
        """Move a ``next``/``previous`` link onto the configured base URL.

        DRF builds links from the host it saw (``http://internal-host/...`` behind a proxy), so the
        scheme and host of a link are never trusted: only its path and query are kept, and the path
        must stay under the API's base path, or the Authorization header could go somewhere else.
        """
        try:
            parsed = httpx.URL(link)
        except httpx.InvalidURL as exc:
            raise PaginationError(f"unusable page link {link!r}: {exc}") from None
        root = self._base_url.path.rstrip("/") + "/"
        if not parsed.path.startswith(root) or "/../" in parsed.path + "/":
            msg = f"page link {link!r} leaves the API base path {root!r}; refusing to follow it"
            raise PaginationError(msg)
        return self._base_url.copy_with(path=parsed.path, query=parsed.query or None)

    async def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        cast_to: type[T],
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> T:
        """Send one request and decode its JSON into `cast_to`; raise the typed error otherwise."""
        response = await self._send(method, url, params=params, json=json)
        return self._decode(response, cast_to)

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        *,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, url, params=params, json=json, headers={"Authorization": self._auth}
        )
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            raise TimeoutError(
                f"{type(exc).__name__} on {method} {request.url.path}",
                method=method,
                url=str(request.url),
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(
                f"{type(exc).__name__} on {method} {request.url.path}: {exc}",
                method=method,
                url=str(request.url),
            ) from exc
        if response.status_code >= 400:
            raise self._error_for(response)
        return response

    def _error_for(self, response: httpx.Response) -> EsperError:
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text[:_BODY_EXCERPT]
        return status_error(response, body)

    def _decode(self, response: httpx.Response, cast_to: type[T]) -> T:
        try:
            data = jsonlib.loads(response.content)
        except ValueError as exc:
            raise self._malformed(response, f"body is not JSON ({exc})") from None
        try:
            return structure(data, cast_to)
        except Exception as exc:  # cattrs raises many types for a wrong shape
            name = getattr(cast_to, "__name__", str(cast_to))
            raise self._malformed(
                response, f"body does not fit {name} ({type(exc).__name__}: {exc})"
            ) from exc

    def _malformed(self, response: httpx.Response, why: str) -> MalformedResponseError:
        request = response.request
        return MalformedResponseError(
            f"malformed response to {request.method} {request.url.path}: {why}",
            method=request.method,
            url=str(request.url),
            status_code=response.status_code,
            body=response.text[:_BODY_EXCERPT],
        )
