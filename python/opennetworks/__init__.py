"""OpenNetworks: collectives over a per-host coordinator (see docs/protocol.md).

``import opennetworks.torch`` registers the PyTorch backend ``"opennetworks"``;
``opennetworks.init()`` gives a framework-neutral `Communicator` over numpy arrays;
``from opennetworks import web`` gives async collectives to a WebAssembly rank (Pyodide).
"""

from ._errors import (
    AbortedError,
    AccessDeniedError,
    ClosedError,
    CollectiveMismatchError,
    InternalError,
    InvalidArgumentError,
    OnetError,
    ProtocolError,
    TimeoutError,
    UnsupportedError,
)

__version__ = "0.1.0"

# The shared-memory client needs pyzmq, numpy and mmap, none of which Pyodide has: it is imported on
# first use so that `import opennetworks` (errors, `web`) works in a WebAssembly rank.
_LAZY = {"init", "Communicator", "Client", "get_client"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import _comm

        return getattr(_comm, name)
    raise AttributeError(f"module 'opennetworks' has no attribute {name!r}")


__all__ = [
    "init",
    "Communicator",
    "Client",
    "get_client",
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
]
