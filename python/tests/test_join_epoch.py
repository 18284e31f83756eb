"""opennetworks.torch.epoch_job / join_epoch argument checks (the joining itself runs over WAN in
test/wan_join.test.ts): the epoch ids agree with the Node API's epochJob(), bad input is a clear
InvalidArgumentError before any process group is touched."""

from __future__ import annotations

import pytest
import torch.distributed as dist

import opennetworks.torch as ot
from opennetworks import InvalidArgumentError


def test_epoch_ids_match_the_node_api():
    assert ot.epoch_job("grow1", 0) == "grow1"
    assert ot.epoch_job("grow1", 2) == "grow1.e2"


@pytest.mark.parametrize("epoch", [-1, 1.5, "1"])
def test_a_bad_epoch_is_refused(epoch):
    with pytest.raises(InvalidArgumentError, match="must be a non-negative integer"):
        ot.epoch_job("grow1", epoch)


def test_a_job_id_too_long_is_refused():
    with pytest.raises(InvalidArgumentError, match="use a shorter ONET_JOB_ID"):
        ot.epoch_job("x" * 62, 1)


@pytest.mark.parametrize("rank,world", [(3, 3), (-1, 2), (0, 0)])
def test_a_rank_outside_the_world_is_refused(monkeypatch, rank, world):
    monkeypatch.setenv("ONET_JOB_ID", "grow1")
    with pytest.raises(InvalidArgumentError, match="need 0 <= rank < world"):
        ot.join_epoch(1, rank, world)
    assert not dist.is_initialized()
