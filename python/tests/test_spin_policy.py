"""The rank's adaptive waiting policy (opennetworks/_spin_policy.py) as pure functions, on the same
table as the engine's copy (native/tests/spin_policy_test.cc). No timing assertions."""

import pytest

from opennetworks import _spin_policy as sp

MODES = [
    (1, 2, sp.BUSY),
    (2, 2, sp.BUSY),
    (3, 2, sp.YIELD),
    (5, 2, sp.SLEEP),
    (17, 2, sp.SLEEP),
    (0, 0, sp.BUSY),
    (2, 0, sp.YIELD),
]


@pytest.mark.parametrize("runnable,cores,mode", MODES)
def test_mode(runnable, cores, mode):
    assert sp.spin_mode(runnable, cores) == mode


UPDATES = [  # budget, waited, caught, next (min 2, cap 1000)
    (100, 10, True, 126),
    (900, 10, True, 1000),
    (50, 400, False, 600),
    (50, 900, False, 1000),
    (500, 510, False, 765),
    (800, 5000, False, 400),
    (3, 5000, False, 2),
    (2, 80, False, 120),
]


@pytest.mark.parametrize("budget,waited,caught,want", UPDATES)
def test_update(budget, waited, caught, want):
    assert sp.spin_update(budget, waited, caught, 2, 1000) == want


def test_update_converges_and_off():
    b = 1000
    for _ in range(20):
        b = sp.spin_update(b, 100000, False, 2, 1000)
    assert b == 2
    for _ in range(40):
        b = sp.spin_update(b, 1, True, 2, 1000)
    assert b == 1000
    assert sp.spin_update(50, 1, True, 2, 0) == 50 and sp.spin_update(50, 10**6, False, 2, 0) == 50


def test_parse_runnable():
    assert sp.parse_runnable("0.30 1.07 1.76 3/103 10298\n") == 3
    assert sp.parse_runnable("12.60 7.71 4.31 17/195 24482") == 17
    assert sp.parse_runnable("0.30 1.07 1.76") == -1
    assert sp.parse_runnable("") == -1
    assert sp.parse_runnable("a b c x/1 2") == -1


def test_spin_state(monkeypatch):
    s = sp.Spin(50, max_us=1000)
    monkeypatch.setattr(sp, "read_runnable", lambda: s.cores + 5)  # a crowded host: sleep at once
    assert s.plan(0.0) == (sp.SLEEP, 0.0)
    monkeypatch.setattr(sp, "read_runnable", lambda: 1)
    assert s.plan(0.001)[0] == sp.SLEEP  # sampled at most every 5 ms: still the old reading
    mode, spin_s = s.plan(1.0)  # mean of the last two samples: (cores + 5 + 1 + 1) // 2
    assert mode == sp.spin_mode((s.cores + 7) // 2, s.cores)
    mode, spin_s = s.plan(2.0)
    assert mode == sp.BUSY and spin_s == pytest.approx(50e-6)
    s.update(0.0004, False)  # slept through a 400 us wait: the budget covers it next time
    assert s.budget_us == 600
    assert sp.Spin(50, max_us=0).max_us == 0


def test_env_cap(monkeypatch):
    monkeypatch.setenv("ONET_SPIN_MAX_US", "250")
    assert sp.Spin(50).max_us == 250
    monkeypatch.delenv("ONET_SPIN_MAX_US")
    assert sp.Spin(50).max_us == 1000


def test_off_is_fixed_yield(monkeypatch):
    s = sp.Spin(50, max_us=0)
    monkeypatch.setattr(sp, "read_runnable", lambda: 99)
    assert s.plan(0.0) == (sp.YIELD, pytest.approx(50e-6))
    s.update(1.0, False)
    assert s.budget_us == 50


LANE = [  # spin_us, ranks on the host, cores, runnable, adaptive -> what the C lane gets (< 0: yield)
    (50, 2, 2, 2, True, 50.0),  # a core per rank and per runnable task: busy-poll
    (50, 2, 2, 3, True, -200.0),  # one runnable task too many: yield instead
    (50, 4, 2, 1, True, -200.0),  # more ranks than cores: always yield
    (500, 4, 2, 9, True, -500.0),  # the window is at least spin_us
    (50, 2, 2, -1, True, -200.0),  # no /proc/loadavg: behave as crowded
    (50, 4, 2, 9, False, 0.0),  # adaptation off: the old rule, no spin when crowded
    (50, 2, 2, 9, False, 50.0),
    (50, 1, 0, 0, True, 50.0),
]


@pytest.mark.parametrize("spin,ranks,cores,runnable,adaptive,want", LANE)
def test_lane_spin_us(spin, ranks, cores, runnable, adaptive, want):
    assert sp.lane_spin_us(spin, ranks, cores, runnable, adaptive) == want


def test_lane_sampler_reads_loadavg(monkeypatch):
    monkeypatch.setattr(sp, "read_runnable", lambda: 9)
    s = sp.LaneSampler()
    s.cores, s.adaptive = 2, True
    assert s.spin_us(50, 2, 0.0) == -sp.LANE_YIELD_US
    monkeypatch.setattr(sp, "read_runnable", lambda: 1)
    assert s.spin_us(50, 2, 0.001) == -sp.LANE_YIELD_US  # within SAMPLE_S: the last reading
    assert s.runnable == 9
    s.spin_us(50, 2, 1.0)
    assert s.runnable == 5  # averaged with the previous reading
    assert s.spin_us(50, 2, 2.0) == 50.0
