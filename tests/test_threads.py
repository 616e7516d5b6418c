"""The thread governor: intra-op threads follow the cores other processes leave free (vtg/threads.py)."""

from __future__ import annotations

import pytest
import torch

from vtg.threads import ThreadGovernor, machine_busy_ticks, own_busy_ticks


class FakeMachine:
    """A 2-core machine whose clock, machine-wide and own busy ticks the test advances (100 ticks per s)."""

    def __init__(self) -> None:
        self.now, self.machine_ticks, self.own_ticks = 0.0, 0, 0

    def advance(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own_ticks += round(100 * seconds * own_cores)
        self.machine_ticks += round(100 * seconds * (own_cores + other_cores))


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_threads_follow_the_cores_others_leave_free(two_threads):
    fake = FakeMachine()
    governor = ThreadGovernor(2.0, 2, lambda: fake.now, lambda: fake.machine_ticks, lambda: fake.own_ticks)
    governor.ticks_per_s = 100
    fake.advance(2.5, own_cores=2.0, other_cores=0.1)  # alone: our own spinning threads are not competition
    assert governor.poll() == 2
    fake.advance(2.5, own_cores=2.0, other_cores=1.0)  # a busy process arrives
    assert governor.poll() == 1 and torch.get_num_threads() == 1
    fake.advance(0.5, own_cores=1.0, other_cores=0.0)  # between samples nothing is read
    assert governor.poll() == 1
    fake.advance(2.0, own_cores=1.0, other_cores=0.0)  # it left
    assert governor.poll() == 2 and torch.get_num_threads() == 2
    assert [threads for _, threads, _ in governor.changes] == [1, 2] and governor.changes[0][2] == 1.0
    fake.advance(3.0, own_cores=0.5, other_cores=4.0)  # never below one thread
    assert governor.poll() == 1


def test_the_user_choice_of_threads_is_kept(monkeypatch, two_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert ThreadGovernor.for_this_run() is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert ThreadGovernor.for_this_run() is not None


def test_proc_counters_read_and_grow():
    start_machine, start_own = machine_busy_ticks(), own_busy_ticks()
    x = torch.randn(300, 300)
    for _ in range(200):  # some CPU time of this process
        x = torch.tanh(x @ x.T / 300)
    assert own_busy_ticks() > start_own and machine_busy_ticks() >= start_machine + (own_busy_ticks() - start_own) // 2
