"""shrink_group and abort: a new group over the survivors, and cancelling a group's in-flight work.

torch 2.13's ``dist.shrink_group(ranks_to_exclude, group, shrink_flags)`` asks the group's backend
(``group._get_backend(device)``) whether it ``supports_shrinking`` and then calls
``backend.shrink(excluded_group_ranks, shrink_flags, pg_options)`` on every survivor; the backend
returns the new group. Here the new group is a ProcessGroupOnet over the survivors' coordinator
ranks, with a group id every survivor derives alike (the Node API's ``comm.shrink()`` rule, so both
languages agree). With ``SHRINK_ABORT`` the parent's in-flight collectives fail at once with
``AbortedError`` (nobody waits for the excluded ranks), and the local coordinator fails the
excluded ranks' pending collectives, so that a hung excluded rank hears about it too.

``abort()`` never blocks: it fails this group's in-flight work locally and returns. An aborted
request keeps its slot and staging block until the job ends, because the coordinator may still
write them (the same as a request given up at its deadline).
"""

from __future__ import annotations

import torch.distributed as dist

from .._errors import AbortedError, OnetError

SHRINK_ABORT = 0x01  # torch.distributed.distributed_c10d.SHRINK_ABORT


def shrunk_group_id(parent: int, nth: int, members: list[int]) -> int:
    """The id every survivor derives for the nth shrink of group ``parent``: FNV-1a of
    "parent/nth/members", as src/api/comm.ts shrink() computes it."""
    h = 0x811C9DC5
    for ch in f"{parent}/{nth}/{','.join(map(str, members))}".encode():
        h = ((h ^ ch) * 0x01000193) & 0xFFFFFFFF
    return 0x40000000 | (h & 0x3FFFFFFF)


class Shrinking:
    """Mixin of ProcessGroupOnet: the backend face torch's shrink_group looks for."""

    _aborted: str | None = None
    _shrinks = 0

    # torch asks group._get_backend(device) for the backend; this group is its own backend.
    def _get_backend(self, device=None):
        return self

    @property
    def supports_shrinking(self) -> bool:
        return True

    @property
    def supports_splitting(self) -> bool:
        return False

    def shrink(self, ranks_to_exclude, shrink_flags: int = 0, opts=None):
        """A new group over this group's ranks minus ``ranks_to_exclude`` (group ranks)."""
        excluded = sorted({int(r) for r in ranks_to_exclude})
        bad = [r for r in excluded if not 0 <= r < self._size]
        if bad or self._rank in excluded or len(excluded) >= self._size:
            raise OnetError(
                f"rank {self._rank}: shrink of a group of {self._size} excluding {excluded}: "
                "exclude 1..size-1 ranks of this group, never the calling rank",
                [self._rank],
                code="EINVAL",
            )
        gone = [self._global_ranks[r] for r in excluded]
        if shrink_flags & SHRINK_ABORT:
            self._abort_inflight(f"shrink_group(SHRINK_ABORT) by rank {self._rank} excluding ranks {excluded}")
        members = [g for i, g in enumerate(self._global_ranks) if i not in excluded]
        gid = shrunk_group_id(self._gid, self._shrinks, members)
        self._shrinks += 1
        timeout = getattr(opts, "_timeout", None) if opts is not None else None
        # The vote for the new group; with SHRINK_ABORT the coordinator first fails the excluded
        # ranks' pending collectives (docs/protocol.md §2, `group` with `exclude`).
        self._client.define_group(gid, members, self._timeout_s, exclude=gone if shrink_flags & SHRINK_ABORT else None)
        return type(self)(
            None,
            members.index(self._global_ranks[self._rank]),
            len(members),
            timeout if timeout is not None else _seconds(self._timeout_s),
            gid,
            members,
        )

    def abort(self) -> None:
        """Fail this group's in-flight work at once; never blocks. The group is unusable after."""
        self._abort_inflight(f"process group {self._group_name or self._gid} was aborted")

    def _abort_inflight(self, why: str) -> None:
        self._aborted = why
        eng = self._eng
        gid = self._gid
        for op in eng.pending():
            if op.group == gid and not op.completed:
                eng._fail(op, AbortedError(f"rank {self._rank}: {op.desc}: {why}", [self._rank]), abandon=True)
        with eng._lock:  # buffered sends of this group: nobody will wait for them
            eng._detached[:] = [op for op in eng._detached if op.group != gid]


def _seconds(s: float):
    import datetime

    return datetime.timedelta(seconds=s)


def _create_shrunk_process_group(new_backend, remaining_ranks, metadata, is_default_group):
    """torch builds a C++ ProcessGroup around the backend shrink() returned; a Python ProcessGroup
    cannot be registered as a C++ Backend, so the new group is returned as it is (what torch itself
    does for Python process groups in new_group), named the way torch names shrunk groups."""
    if not isinstance(new_backend, Shrinking):
        return _torch_create_shrunk(new_backend, remaining_ranks, metadata, is_default_group)
    new_backend.setGroupName(metadata["new_group_name"])
    desc = "default:shrunken" if is_default_group else f"{metadata['original_group_name']}:shrunk"
    new_backend.setGroupDesc(desc)
    if metadata.get("bound_device_id") is not None:
        new_backend.bound_device_id = metadata["bound_device_id"]
    return new_backend


_create_shrunk_process_group._onet = True
_c10d = dist.distributed_c10d
_torch_create_shrunk = getattr(_c10d, "_create_shrunk_process_group", None)
if _torch_create_shrunk is not None and not getattr(_torch_create_shrunk, "_onet", False):
    _c10d._create_shrunk_process_group = _create_shrunk_process_group
