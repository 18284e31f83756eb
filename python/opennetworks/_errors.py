"""Exceptions: one class per protocol error code (docs/protocol.md §7).

Every error carries ``code`` (the protocol name, e.g. ``"EMISMATCH"``), ``ranks`` (the ranks
concerned, possibly empty) and a message that says what happened, to whom, and what to do.
"""
from __future__ import annotations

import re

__all__ = [
    "OnetError", "CollectiveMismatchError", "InvalidArgumentError", "TimeoutError",
    "AbortedError", "ClosedError", "UnsupportedError", "InternalError", "ProtocolError",
    "error_for_code", "error_for_status",
]

_RANK_RE = re.compile(r"\branks? ((?:\d+(?:\s*(?:,|and)\s*)?)+)")


def _ranks_in(message: str) -> list[int]:
    found: list[int] = []
    for m in _RANK_RE.finditer(message):
        for n in re.findall(r"\d+", m.group(1)):
            if int(n) not in found:
                found.append(int(n))
    return found


class OnetError(RuntimeError):
    """Base of every OpenNetworks error. ``code``: protocol name; ``ranks``: ranks concerned."""

    code = "EINTERNAL"
    status = 7

    def __init__(self, message: str, ranks: list[int] | None = None, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.ranks = list(ranks) if ranks is not None else _ranks_in(message)
        self.message = message

    def __reduce__(self):  # survive pickling across processes with code and ranks intact
        return (type(self), (self.message, self.ranks, self.code))


class CollectiveMismatchError(OnetError):
    """Ranks disagree on a collective (op, dtype, count, reduce op, root)."""
    code, status = "EMISMATCH", 1


class InvalidArgumentError(OnetError, ValueError):
    """A malformed request or message."""
    code, status = "EINVAL", 2


class TimeoutError(OnetError):  # noqa: A001 - the protocol names it so; it is opennetworks.TimeoutError
    """A deadline passed; ``ranks`` names the ranks that did not arrive."""
    code, status = "ETIMEDOUT", 3


class AbortedError(OnetError):
    """A rank or the coordinator died; the collective cannot finish."""
    code, status = "EABORTED", 4


class ClosedError(OnetError):
    """The communicator was closed."""
    code, status = "ECLOSED", 5


class UnsupportedError(OnetError, NotImplementedError):
    """A valid request that is not supported (e.g. BAND on floats)."""
    code, status = "ENOTSUP", 6


class InternalError(OnetError):
    """A bug in OpenNetworks: please report it with the message."""
    code, status = "EINTERNAL", 7


class ProtocolError(OnetError):
    """The coordinator speaks another protocol version."""
    code, status = "EPROTO", -1


class AccessDeniedError(OnetError):
    """The coordinator refused this process: it lacks the job token (ONET_JOB_TOKEN)."""
    code, status = "EACCES", -1


_BY_CODE = {c.code: c for c in (CollectiveMismatchError, InvalidArgumentError, TimeoutError,
                                AbortedError, ClosedError, UnsupportedError, InternalError,
                                ProtocolError, AccessDeniedError)}
_BY_STATUS = {c.status: c for c in _BY_CODE.values() if c.status > 0}


def error_for_code(code: str, message: str, ranks: list[int] | None = None) -> OnetError:
    """The exception for a control-channel ``error`` reply."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return InternalError(f"{message} (unknown error code {code!r})", ranks, code)
    return cls(message, ranks)


def error_for_status(status: int, message: str, ranks: list[int] | None = None) -> OnetError:
    """The exception for a completed slot whose state is ERROR."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return InternalError(f"{message} (unknown status {status})", ranks)
    return cls(message, ranks)
