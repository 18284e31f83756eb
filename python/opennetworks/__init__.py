"""OpenNetworks: collectives over a per-host coordinator (see docs/protocol.md).

``import opennetworks.torch`` registers the PyTorch backend ``"opennetworks"``;
``opennetworks.init()`` gives a framework-neutral `Communicator` over numpy arrays.
"""

from ._comm import Client, Communicator, get_client, init
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
