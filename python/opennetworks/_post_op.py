"""One posted request (``Op``) and how it is named in messages (``describe``)."""

from __future__ import annotations

from ._layout import COLL_NAMES, SLOT_BYTES, SLOTS_OFFSET


class Op:
    """One posted request. ``finish(op)`` runs once at successful completion (copy-out)."""

    __slots__ = (
        "slot",
        "state_idx",
        "_desc",
        "finish",
        "blocks",
        "deadline",
        "completed",
        "error",
        "src",
        "out_count",
        "callbacks",
        "result",
        "group",
        "seq",
        "missing",
        "coll",
        "count",
        "__weakref__",
    )

    def __init__(self, slot, desc, finish, blocks, deadline, group=0, seq=0, coll=0, count=0):
        self.group = group
        self.seq = seq
        self.coll = coll
        self.count = count
        self.missing = None
        self.slot = slot
        self.state_idx = (SLOTS_OFFSET + slot * SLOT_BYTES) >> 2
        self._desc = desc
        self.finish = finish
        self.blocks = blocks
        self.deadline = deadline
        self.completed = False
        self.error = None
        self.src = -1
        self.out_count = 0
        self.callbacks = None
        self.result = None

    @property
    def desc(self) -> str:
        """What the op is, for messages; formatted only when needed (not on the hot path)."""
        return self._desc or describe(self.coll, self.seq, self.group, self.count)


def describe(coll: int, seq: int, group: int, count: int) -> str:
    name = COLL_NAMES.get(coll, f"coll {coll}")
    g = "" if group == 0 else f" in group {group}"
    return f"{name} #{seq}{g} ({count} elements)" if seq else f"{name}{g} ({count} elements)"
