"""The settings contract, Python side: the shared cases in spec/fixtures/ (byte sizes, durations,
job ids, reading settings, errors) give the same answers here as in test/contract_settings.test.ts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from opennetworks import _env
from opennetworks._errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> dict:
    return json.loads((ROOT / "spec" / "fixtures" / name).read_text())


def check(f, case: dict, approx: bool = False) -> None:
    if "error" in case:
        with pytest.raises(InvalidArgumentError) as e:
            f()
        assert str(e.value) == case["error"]
        return
    got = f()
    want = case["value"]
    if approx and isinstance(want, (int, float)) and not isinstance(want, bool):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=0), (got, want)
    else:
        assert got == want and isinstance(got, bool) == isinstance(want, bool), (got, want)


BYTES = fixture("bytes.json")
DURATIONS = fixture("durations.json")
JOBS = fixture("jobid.json")
JOB_VECTORS = json.loads((ROOT / "spec" / "jobid.json").read_text())["vectors"]
SETTINGS = fixture("settings.json")


@pytest.mark.parametrize("case", BYTES["cases"], ids=lambda c: json.dumps(c["text"]))
def test_byte_size(case):
    check(lambda: _env.parse_bytes(case["text"], BYTES["what"]), case)


@pytest.mark.parametrize("case", DURATIONS["cases"], ids=lambda c: json.dumps(c["text"]))
def test_duration(case):
    check(lambda: _env.parse_seconds(case["text"], DURATIONS["what"]), case, approx=True)


@pytest.mark.parametrize("case", JOB_VECTORS + JOBS["cases"], ids=lambda c: json.dumps(c["env"], ensure_ascii=False))
def test_job_id(case):
    check(lambda: _env.job_id(case["env"]), case)


@pytest.mark.parametrize("case", SETTINGS["cases"], ids=lambda c: f"{c['name']} {json.dumps(c['env'])}")
def test_setting(case):
    assert case["name"] in _env.SPECS, f"{case['name']} is in spec/settings.json"
    check(lambda: _env.value(case["name"], case["env"]), case, approx=True)


def test_generated_table_is_the_spec():
    spec = json.loads((ROOT / "spec" / "settings.json").read_text())
    assert list(_env.SPECS) == [s["env"] for s in spec["settings"]]
    for s in spec["settings"]:
        g = _env.SPECS[s["env"]]
        assert (g.key, g.kind, g.default, list(g.components)) == (s["key"], s["kind"], s["default"], s["components"])
    assert _env.SETTINGS["ONET_TIMEOUT"] == ("300", _env.SPECS["ONET_TIMEOUT"].meaning)


def test_unset_falls_back_to_the_callers_default(monkeypatch):
    # The torch process group keeps its own timeout unless ONET_TIMEOUT is set.
    monkeypatch.delenv("ONET_TIMEOUT", raising=False)
    assert _env.float_setting("ONET_TIMEOUT", None) is None
    assert _env.float_setting("ONET_TIMEOUT") == 300.0
    monkeypatch.setenv("ONET_TIMEOUT", "2.5")
    assert _env.float_setting("ONET_TIMEOUT", None) == 2.5
    monkeypatch.setenv("ONET_PIPELINE_BYTES", "1.5MB")
    assert _env.bytes_setting("ONET_PIPELINE_BYTES", 1) == 1_500_000


def test_rank_variables_of_our_own_win():
    i = _env.rank_info(env={"ONET_RANK": "1", "RANK": "0", "ONET_WORLD_SIZE": "3", "WORLD_SIZE": "9"})
    assert (i.rank, i.world, i.local_rank, i.local_world) == (1, 3, 1, 3)
