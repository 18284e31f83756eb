"""Who may use the rank-side fast lane (docs/protocol.md §2 `register` / `lane`).

A rank that can run the lane declares its version at `register` (``"fastlane": VERSION``); Node and
browser/Pyodide ranks do not (their collectives go to the engine). A communicator takes the
lane only when the coordinator says that every one of its ranks declared the same version and all of
them are on one host, so a mixed job never has some ranks in the lane and others at the engine. The
answer depends only on what the ranks declared: until every member has registered the coordinator
names the missing ones and this rank asks again, up to the collective timeout.
"""

from __future__ import annotations

import time

from . import _env
from ._errors import AbortedError, TimeoutError
from ._fastlane_layout import VERSION

# Every Python framework runs the lane (JAX's FFI custom call too: bindings/jax/onet_jax.cc).
_NO_LANE_FRAMEWORKS: frozenset = frozenset()


def declared(framework: str, info: _env.RankInfo) -> int:
    """The lane version this rank declares at `register`, or 0 (declares none)."""
    if framework in _NO_LANE_FRAMEWORKS or info.local_world < info.world:
        return 0
    if int(_env.bytes_setting("ONET_FASTLANE_MAX_BYTES")) <= 0:  # the user's override, on any rank
        return 0
    return VERSION


def allowed(client, ranks: list[int], timeout_s: float) -> int:
    """The lane version the coordinator allows for the communicator of global ``ranks`` (0: none).
    Asks again while members have not registered yet, at most ``timeout_s``."""
    if getattr(client.coordinator, "fastlane", 0) != VERSION:
        return 0  # this rank declared none, so the coordinator's answer is 0 for every member
    msg = {"type": "lane", "ranks": sorted(int(r) for r in ranks)}
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        if not client._coord_alive():
            raise AbortedError(
                f"rank {client.rank}: coordinator pid {client.coord_pid} died; see its log in the job directory "
                "and restart the job",
                [client.rank],
            )
        left = deadline - time.monotonic()
        try:  # short waits, so that a dead coordinator is noticed above
            reply = client.ctl.request(msg, max(0.5, min(left, 2.0)), "lane")
        except TimeoutError:
            if time.monotonic() < deadline:
                continue  # a busy coordinator: ask again (a late reply to this request is dropped)
            raise
        missing = reply.get("missing") or []
        if not missing:
            v = reply.get("fastlane")
            return v if isinstance(v, int) and not isinstance(v, bool) and v == VERSION else 0
        if time.monotonic() + pause > deadline:
            raise TimeoutError(
                f"rank {client.rank}: rank(s) {', '.join(map(str, missing))} of the communicator {msg['ranks']} "
                f"did not register within {timeout_s:.0f} s; start them or raise ONET_TIMEOUT",
                [int(r) for r in missing if isinstance(r, int)],
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
