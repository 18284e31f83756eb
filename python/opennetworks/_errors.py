"""Exceptions: one class per error code of spec/errors.json (docs/protocol.md §7).

Every error carries ``code`` (the protocol name, e.g. ``"EMISMATCH"``), ``ranks`` (the ranks
concerned, possibly empty) and a message that says what happened, to whom, and what to do.
Errors are data (STYLE rule 7): ``code`` and ``ranks`` always arrive as fields — a slot's status
word and rank list, a control message's ``code``/``ranks`` — and are never read out of the text.
The classes are written out below for readers and tools; ``_check_against_spec`` proves at import
that they match the generated table (``_gen/errors.py``): names, numbers and builtin bases.
"""

from __future__ import annotations

from ._gen.errors import BY_NUMBER, CODES

__all__ = [
    "OnetError",
    "CollectiveMismatchError",
    "InvalidArgumentError",
    "TimeoutError",
    "AbortedError",
    "ClosedError",
    "UnsupportedError",
    "InternalError",
    "ProtocolError",
    "AccessDeniedError",
    "error_for_code",
    "error_for_status",
]


class OnetError(RuntimeError):
    """Base of every OpenNetworks error. ``code``: protocol name; ``ranks``: ranks concerned."""

    code = "EINTERNAL"
    status = 7

    def __init__(self, message: str, ranks: list[int] | tuple[int, ...] | None = None, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.ranks = [int(r) for r in ranks] if ranks else []
        self.message = message

    @property
    def hint(self) -> str:
        """What to do about this kind of error (spec/errors.json)."""
        spec = CODES.get(self.code)
        return spec.hint if spec else ""

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

    code, status = "EPROTO", 8


class AccessDeniedError(OnetError):
    """The coordinator refused this process: it lacks the job token (ONET_JOB_TOKEN)."""

    code, status = "EACCES", 9


_CLASSES = (
    CollectiveMismatchError,
    InvalidArgumentError,
    TimeoutError,
    AbortedError,
    ClosedError,
    UnsupportedError,
    InternalError,
    ProtocolError,
    AccessDeniedError,
)
_BY_CODE: dict[str, type[OnetError]] = {c.code: c for c in _CLASSES}
_BY_STATUS: dict[int, type[OnetError]] = {c.status: c for c in _CLASSES}


def _check_against_spec() -> None:
    """Every code of spec/errors.json has its class here, with its name, number and bases; no more."""
    want = {c.name: c for c in CODES.values() if c.python is not None}
    if set(want) != set(_BY_CODE):
        raise ImportError(
            f"opennetworks._errors classes {sorted(_BY_CODE)} differ from spec/errors.json "
            f"{sorted(want)}; add or remove the class and run `npm run gen`"
        )
    for name, spec in want.items():
        cls = _BY_CODE[name]
        bases = {b.__name__ for b in cls.__mro__[1:]} - {
            "OnetError",
            "RuntimeError",
            "Exception",
            "BaseException",
            "object",
        }
        if (cls.__name__, cls.status, bases) != (spec.python, spec.number, set(spec.bases)):
            raise ImportError(
                f"opennetworks.{cls.__name__} (code {name}, status {cls.status}, bases {sorted(bases)}) "
                f"does not match spec/errors.json ({spec.python}, {spec.number}, {list(spec.bases)})"
            )


_check_against_spec()


def error_for_code(code: str, message: str, ranks: list[int] | None = None) -> OnetError:
    """The exception for a control-channel ``error`` reply: its ``code``, ``message`` and ``ranks`` fields."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return InternalError(f"{message} (unknown error code {code!r}: a bug, please report it)", ranks)
    return cls(message, ranks)


def error_for_status(status: int, message: str, ranks: list[int] | None = None) -> OnetError:
    """The exception for a completed slot whose state is ERROR: its status word, message and rank list."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        spec = BY_NUMBER.get(status)
        what = f"status {status}" + (f" ({spec.name})" if spec else "")
        return InternalError(f"{message} (unexpected {what}: a bug, please report it)", ranks)
    return cls(message, ranks)
