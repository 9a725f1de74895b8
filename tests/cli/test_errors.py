"""Every error a command can meet becomes one line and a documented exit code."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from esper_cmds import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    EsperError,
    JournalError,
    JournalMismatchError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from esper_cmds._cli._errors import CliError, ExitCode, describe
from esper_cmds._cli._inputs import parse_json_object, read_ids

REQUEST = {"method": "GET", "url": "http://127.0.0.1/api/v0/enterprise/x/command/"}


def status(cls: type[APIStatusError], code: int, **extra: object) -> APIStatusError:
    """A status error as the transport builds it."""
    return cls(f"{code} from GET /x", status_code=code, api_message="nope", **REQUEST, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "words", "code"),
    [
        (CliError("bad flag"), "bad flag", ExitCode.USAGE),
        (status(AuthenticationError, 401), "rejected (401)", ExitCode.AUTH),
        (status(PermissionDeniedError, 403), "may not do this (403)", ExitCode.AUTH),
        (status(NotFoundError, 404), "check the enterprise id", ExitCode.FAILED),
        (status(RateLimitError, 429, retry_after=30.0), "for 30 s (429)", ExitCode.FAILED),
        (status(RateLimitError, 429), "rate limited by the API (429)", ExitCode.FAILED),
        (status(APIStatusError, 418), "answered 418: nope", ExitCode.FAILED),
        (APIConnectionError("refused", **REQUEST), "cannot reach the API", ExitCode.FAILED),
        (APITimeoutError("slow", **REQUEST), "cannot reach the API", ExitCode.FAILED),
        (JournalMismatchError("j.jsonl is for another fan-out"), "use a new --journal",
         ExitCode.USAGE),
        (JournalError("journal j is in use (pid 7)"), "journal: journal j is in use",
         ExitCode.FAILED),
        (EsperError("something else"), "something else", ExitCode.FAILED),
        (FileNotFoundError(2, "No such file or directory", "ids.txt"), "ids.txt", ExitCode.USAGE),
        (RuntimeError("boom"), "unexpected error: RuntimeError: boom", ExitCode.FAILED),
        (ValidationError("api_key", "is required", None), "api_key is missing", ExitCode.AUTH),
        (ValidationError("api_key", "must be printable ASCII", "<redacted>"),
         "api_key must be printable ASCII", ExitCode.AUTH),
        (ValidationError("devices[0]", "must be a UUID", "x"), "invalid input", ExitCode.USAGE),
    ],
)  # fmt: skip
def test_each_error_has_its_line_and_exit_code(
    error: BaseException, words: str, code: ExitCode
) -> None:
    """The message says what is wrong and how to fix it; the code is the documented one."""
    message, exit_code = describe(error)
    assert words in message
    assert exit_code == code
    assert "\n" not in message


def test_json_arguments_from_a_file_and_their_errors(tmp_path: Path) -> None:
    """``@FILE`` reads the object from a file; a missing file, bad JSON or a non-object is a
    one-line `CliError` naming the flag."""
    good = tmp_path / "args.json"
    good.write_text('{"brightness_value": 80}')
    assert parse_json_object(f"@{good}", "--args-json") == {"brightness_value": 80}
    with pytest.raises(CliError, match="--args-json: cannot read"):
        parse_json_object(f"@{tmp_path / 'missing.json'}", "--args-json")
    with pytest.raises(CliError, match="not valid JSON"):
        parse_json_object("{nope", "--args-json")
    with pytest.raises(CliError, match="must be a JSON object"):
        parse_json_object("[1, 2]", "--args-json")


def test_id_files_that_cannot_be_read(tmp_path: Path) -> None:
    """A missing file or one that is not UTF-8 text is a one-line error naming the flag."""
    with pytest.raises(CliError, match="--devices-file: cannot read"):
        read_ids([], [str(tmp_path / "missing.txt")], noun="device")
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CliError, match="not UTF-8"):
        read_ids([], [str(binary)], noun="device")
    with pytest.raises(CliError, match="is not an id"):
        read_ids(["nope"], [], noun="device")


def test_describe_never_shows_an_echoed_key_in_a_url() -> None:
    """The transport scrubs URLs before they reach the command line; a 404's URL is shown."""
    error = NotFoundError(
        "404 from GET /x", status_code=404, method="GET", url=str(httpx.URL("http://h/api/x"))
    )
    message, _ = describe(error)
    assert "http://h/api/x" in message


def test_a_key_given_as_a_flag_is_blanked_out_of_messages() -> None:
    """``--api-key K`` and ``--api-key=K`` are both removed from a line about the flags."""
    from esper_cmds._cli._main import _find, _redact

    assert _redact("bad flag near s3cret", ["--api-key", "s3cret"]) == "bad flag near ***"
    assert _redact("bad flag near s3cret", ["--api-key=s3cret"]) == "bad flag near ***"
    assert _redact("nothing to hide", ["--api-key"]) == "nothing to hide"
    inner = KeyboardInterrupt()
    group = BaseExceptionGroup("outer", [ValueError("x"), BaseExceptionGroup("in", [inner])])
    assert _find(group, KeyboardInterrupt) is inner
    assert _find(ValueError("y"), KeyboardInterrupt) is None
