"""Set-up shared by the single-copy (CMA) test ranks, _cma_worker.py and _cma_p2p_worker.py: the process
group, the flags of the rank's posts to the coordinator (which path each call took), the group's
single-copy threshold switched between its own value and 0 (the copy path), and ONET_OUT/rank<r>.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)
from opennetworks._gen.layout import FLAG_CMA

RANK = int(os.environ["RANK"])


class CmaRank:
    """This rank in the default process group, recording the flags of its posts (of ``kind`` only, when
    given: e.g. RECV) since the last ``use``."""

    def __init__(self, kind: int | None = None) -> None:
        dist.init_process_group("opennetworks")
        self.world = dist.get_world_size()
        self.pg = dist.group.WORLD._get_backend(torch.device("cpu"))
        self.cma_min = self.pg._cma_min
        self.flags: list[int] = []
        self._real_post = real_post = self.pg._eng.post

        def post(*a, **kw):
            if kind is None or a[1] == kind:
                self.flags.append(kw.get("flags", 0))
            return real_post(*a, **kw)

        self.pg._eng.post = post

    def use(self, mode: str) -> None:
        """``"single"``: single copy from the group's threshold on; ``"copy"``: the copy path. Clears the flags."""
        self.pg._cma_min = {"single": self.cma_min, "copy": 0}[mode]
        del self.flags[:]

    def took_cma(self) -> bool:
        """Whether a post since the last ``use`` went by single copy."""
        return any(f & FLAG_CMA for f in self.flags)

    def finish(self, fails: list[str], paths: dict) -> None:
        """Put the group back as it was, write ONET_OUT/rank<r>.json and leave the group."""
        self.pg._cma_min = self.cma_min
        self.pg._eng.post = self._real_post
        out = {"rank": RANK, "world": self.world, "cma_min": self.cma_min, "fails": fails, "paths": paths}
        Path(os.environ["ONET_OUT"], f"rank{RANK}.json").write_text(json.dumps(out))
        dist.destroy_process_group()
