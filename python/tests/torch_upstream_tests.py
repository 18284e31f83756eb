"""Run torch's own distributed tests (torch/testing/_internal/distributed/distributed_test.py, gloo's
expectations) against the opennetworks backend. Not part of the suite: each test spawns its ranks
and imports torch again (~45 s a test on a loaded 2-core machine). Pick tests with -k:

    WORLD_SIZE=2 .venv/bin/python python/tests/torch_upstream_tests.py -v -k test_sparse_all_reduce_sum \\
        -k test_all_gather_coalesced

BACKEND stays "gloo" for every check inside the tests (so they expect what gloo does), while
init_process_group creates an "opennetworks" group. Tests that look at gloo's own classes
(ProcessGroupGloo, _get_backend internals) fail for that reason alone.
"""

import os
import sys
import tempfile
import types
import unittest

os.environ.setdefault("BACKEND", "gloo")
os.environ.setdefault("WORLD_SIZE", "2")
os.environ.setdefault("TEMP_DIR", tempfile.mkdtemp(prefix="tdt-"))
os.environ.setdefault("INIT_METHOD", "env://")
try:
    import expecttest  # noqa: F401  torch's test utilities import it; not in every wheelhouse
except ImportError:
    _stub = types.ModuleType("expecttest")
    _stub.TestCase = type("TestCase", (unittest.TestCase,), {"assertExpectedInline": lambda *a, **k: None})
    sys.modules["expecttest"] = _stub

import torch.distributed as dist  # noqa: E402
import torch.distributed.distributed_c10d as c10d  # noqa: E402

import opennetworks.torch  # noqa: E402,F401

_real_init = dist.init_process_group


def _init(*args, **kw):
    if kw.get("backend") in ("gloo", None):
        kw["backend"] = "opennetworks"
    return _real_init(*args, **kw)


dist.init_process_group = c10d.init_process_group = _init

from torch.testing._internal.common_utils import run_tests  # noqa: E402
from torch.testing._internal.distributed.distributed_test import DistributedTest, TestDistBackend  # noqa: E402


class TestOpenNetworks(TestDistBackend, DistributedTest._DistTestBase):
    def setUp(self):
        super().setUp()
        self._spawn_processes()


if __name__ == "__main__":
    run_tests()
