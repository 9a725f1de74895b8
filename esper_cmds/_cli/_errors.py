"""Exit codes and the one-line error messages of the command line.

Strictly private.
"""

from __future__ import annotations

import enum

from .. import (
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

__all__ = ["CliError", "ExitCode", "describe"]


class ExitCode(enum.IntEnum):
    """The documented exit codes (``esper-cmds --help`` and the README list them)."""

    OK = 0
    FAILED = 1
    """The API reported failures (failed chunks; failed devices under ``--exit-status``)."""
    USAGE = 2
    """Bad flags or input; nothing was sent."""
    TIMEOUT = 3
    """A watch reached its ``--timeout`` with devices still pending."""
    AUTH = 4
    """Missing, rejected or insufficient credentials."""
    INTERRUPTED = 130
    """Ctrl-C / SIGINT."""


class CliError(Exception):
    """A failure the command line reports as one line and an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_CONFIG_HINT = {
    "api_key": "pass --api-key or set ESPER_API_KEY",
    "enterprise_id": "pass --enterprise or set ESPER_ENTERPRISE_ID",
    "base_url": "pass --tenant or --base-url, or set ESPER_TENANT or ESPER_BASE_URL",
    "tenant": "pass --tenant NAME (letters, digits and dashes) or set ESPER_TENANT",
}


def describe(exc: BaseException) -> tuple[str, ExitCode]:
    """One line saying what went wrong and how to fix it, and the exit code."""
    if isinstance(exc, CliError):
        return exc.message, exc.code
    if isinstance(exc, ValidationError):
        return _validation(exc)
    if isinstance(exc, AuthenticationError):
        return (
            "the API key was rejected (401): check --api-key / ESPER_API_KEY",
            ExitCode.AUTH,
        )
    if isinstance(exc, PermissionDeniedError):
        return (
            "the API key may not do this (403): check its scopes and the enterprise id",
            ExitCode.AUTH,
        )
    if isinstance(exc, NotFoundError):
        return (
            f"not found (404) at {exc.url}: check the enterprise id (--enterprise / "
            "ESPER_ENTERPRISE_ID) and any ids you gave",
            ExitCode.FAILED,
        )
    if isinstance(exc, RateLimitError):
        wait = "" if exc.retry_after is None else f" for {exc.retry_after:.0f} s"
        return f"rate limited by the API{wait} (429): try again later", ExitCode.FAILED
    if isinstance(exc, APIStatusError):
        message = exc.message or "no message"
        return f"the API answered {exc.status_code}: {message}", ExitCode.FAILED
    if isinstance(exc, (APIConnectionError, APITimeoutError)):
        return (
            f"cannot reach the API ({exc}): check --base-url / --tenant and your network",
            ExitCode.FAILED,
        )
    if isinstance(exc, JournalMismatchError):
        return (
            f"{exc}: this journal belongs to another send; use a new --journal",
            ExitCode.USAGE,
        )
    if isinstance(exc, JournalError):
        return f"journal: {exc}", ExitCode.FAILED
    if isinstance(exc, EsperError):
        return str(exc), ExitCode.FAILED
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{':' if where else ''}{where}", ExitCode.USAGE
    return f"unexpected error: {type(exc).__name__}: {exc} (run with --debug)", ExitCode.FAILED


def _validation(exc: ValidationError) -> tuple[str, ExitCode]:
    field = exc.field
    if field in _CONFIG_HINT and exc.value is None:
        code = ExitCode.AUTH if field == "api_key" else ExitCode.USAGE
        return f"{field} is missing: {_CONFIG_HINT[field]}", code
    if field == "api_key":
        # Never echo the key, not even a bad one.
        return f"api_key {exc.rule}: check --api-key / ESPER_API_KEY", ExitCode.AUTH
    return f"invalid input: {exc}", ExitCode.USAGE
