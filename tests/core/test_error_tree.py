"""The error tree: drawn once in ``_errors.py`` and the README, and true to the classes."""

from __future__ import annotations

import datetime as dt
import pickle
import re
import uuid
import warnings
from pathlib import Path

import httpx
import pytest

import esper_cmds
from esper_cmds import _errors

README = Path(__file__).resolve().parents[2] / "README.md"

PUBLIC_ERRORS = {
    name: value
    for name in esper_cmds.__all__
    if isinstance(value := getattr(esper_cmds, name), type) and issubclass(value, BaseException)
}


def _tree(text: str) -> dict[str, str | None]:
    """Each class drawn in a box-drawing tree, mapped to its drawn parent."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = re.match(r"^([\s│├└─]*)([A-Z]\w*Error)\b", line)
        if match is None:
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def _readme_tree() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Errors") :]
    match = re.search(r"```text\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("where", ["docstring", "readme"])
def test_every_public_exception_is_drawn_under_its_real_parent(where: str) -> None:
    """The drawn tree holds exactly the exported exceptions, each under its actual base class."""
    drawn = _tree(_errors.__doc__ or "") if where == "docstring" else _tree(_readme_tree())
    assert set(drawn) == set(PUBLIC_ERRORS)
    for name, parent in drawn.items():
        cls = PUBLIC_ERRORS[name]
        if parent is None:
            assert cls is esper_cmds.EsperError
        else:
            esper_bases = [b for b in cls.__mro__[1:] if b.__name__ in PUBLIC_ERRORS]
            assert esper_bases[0] is PUBLIC_ERRORS[parent], (name, parent)


def test_every_public_exception_says_it_is_esper_cmds() -> None:
    """Tracebacks and reprs show ``esper_cmds.X``, wherever the class is defined."""
    for name, cls in PUBLIC_ERRORS.items():
        assert cls.__module__ == "esper_cmds", name
        assert getattr(esper_cmds, cls.__qualname__) is cls


def _samples() -> list[BaseException]:
    request = {"method": "POST", "url": "https://x/api/v0/enterprise/e/command/"}
    cause = esper_cmds.APITimeoutError("slow", **request)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        esper_cmds.ValidationError("devices[0]", "must be a UUID", "x"),
        esper_cmds.APIConnectionError("refused", **request),
        cause,
        esper_cmds.RateLimitError("429", retry_after=3.0, status_code=429, **request),
        esper_cmds.AmbiguousCreateError(
            payload={"command": "REBOOT"}, started_at=at, finished_at=at, cause=cause, **request
        ),
        esper_cmds.JournalMismatchError("another fan-out's"),
    ]


@pytest.mark.parametrize("error", _samples(), ids=lambda e: type(e).__name__)
def test_errors_pickle_as_themselves(error: BaseException) -> None:
    """An error raised in a worker process reaches its parent as the same class and fields."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert vars(copy).keys() == vars(error).keys()


def test_ambiguous_create_carries_method_and_url_like_other_request_errors() -> None:
    """`AmbiguousCreateError` is a request error: ``method`` and ``url`` as the others have."""
    error = _samples()[4]
    assert isinstance(error, esper_cmds.AmbiguousCreateError)
    assert (error.method, error.url) == ("POST", "https://x/api/v0/enterprise/e/command/")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ConnectionError", "APIConnectionError"),
        ("TimeoutError", "APITimeoutError"),
        ("Failure", "RetryFailure"),
        ("Action", "RetryAction"),
    ],
)
def test_old_names_still_work_with_a_deprecation_warning(old: str, new: str) -> None:
    """The renamed classes keep their old names, which warn and are not star-exported."""
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(esper_cmds, old)
    assert value is getattr(esper_cmds, new)
    assert old not in esper_cmds.__all__
    namespace: dict[str, object] = {}
    exec("from esper_cmds import *", namespace)
    assert namespace.get("TimeoutError", TimeoutError) is TimeoutError  # the built-in survives


def test_renamed_errors_do_not_pass_for_os_errors() -> None:
    """An ``except OSError`` around file I/O does not swallow a network error by accident."""
    assert not issubclass(esper_cmds.APIConnectionError, OSError)
    assert not issubclass(esper_cmds.APITimeoutError, OSError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The module's ``__getattr__`` serves only the version and the old names."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no_such_name"):
            _ = esper_cmds.no_such_name


@pytest.mark.anyio
async def test_version_comes_from_the_package_metadata() -> None:
    """``__version__`` is the installed distribution's, and every request's User-Agent says it."""
    from importlib.metadata import version

    assert esper_cmds.__version__ == version("esper-cmds")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["User-Agent"])
        return httpx.Response(200, json={"count": 0, "next": None, "previous": None, "results": []})

    async with esper_cmds.EsperClient(
        base_url="http://127.0.0.1:1/api",
        api_key="k",
        enterprise_id=uuid.uuid4(),
        env={},
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.groups.list().first_page()
    assert seen == [f"esper-cmds/{esper_cmds.__version__}"]
