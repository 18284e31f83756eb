import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness  # noqa: E402

_ok, _why = _harness.coordinator_available()


def pytest_collection_modifyitems(config, items):
    if _ok:
        return
    skip = pytest.mark.skip(reason=f"needs the OpenNetworks coordinator: {_why}")
    for item in items:
        if "needs_coordinator" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_coordinator: starts real rank processes and `onet serve`")
