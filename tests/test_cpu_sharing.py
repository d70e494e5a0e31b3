"""Sharing the CPU cores between fits: turns, hand-over, dead holders, the off switch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from conftest import diamond, rock_salt

from dos_estimators import _cpu
from dos_estimators._cpu import CoreLease, cpu_turns, lock_folder
from dos_estimators.estimators import GraphNetworkDOSRegressor

# A wait on a state gives up after this long, so that a bug fails instead of hanging.
GIVE_UP = 120


def wait_until(condition):
    deadline = time.monotonic() + GIVE_UP
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.001)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, str(tmp_path))
    monkeypatch.setattr(_cpu, "TURN", 0.0)
    return str(tmp_path)


def test_a_waiting_block_runs_at_the_holders_next_pause(folder):
    holder, waiter = CoreLease(folder, 1, 1), CoreLease(folder, 1, 1)
    holder.acquire()
    events = []

    def wait_for_the_core():
        waiter.acquire()
        events.append("waiter has the core")
        waiter.release()

    thread = threading.Thread(target=wait_for_the_core)
    thread.start()
    wait_until(holder.waiting)  # the waiter holds the gate while it waits
    assert events == []
    events.append("holder pauses")
    holder.pause()  # the waiter goes first; the holder has the core again after it
    events.append("holder has the core again")
    thread.join(GIVE_UP)
    holder.release()
    assert events == ["holder pauses", "waiter has the core", "holder has the core again"]


def test_a_pause_with_nobody_waiting_keeps_the_cores(folder):
    lease = CoreLease(folder, 2, 2)
    lease.acquire()
    held = dict(lease.held)
    assert not lease.waiting()
    lease.pause()
    assert lease.held == held  # the same open files: nothing was given back
    lease.release()


def test_blocks_that_fit_on_the_cores_do_not_wait(folder):
    first, second = CoreLease(folder, 1, 2), CoreLease(folder, 1, 2)
    first.acquire()
    second.acquire()  # the other core is free: returns at once
    assert set(first.held) | set(second.held) == {0, 1}
    first.release()
    second.release()


def test_a_killed_holder_releases_its_cores(folder):
    script = (
        "import sys\n"
        "from dos_estimators._cpu import CoreLease\n"
        "CoreLease(sys.argv[1], 1, 1).acquire()\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, folder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        lease = CoreLease(folder, 1, 1)
        assert not lease._take(0, None)
    finally:
        holder.kill()
        holder.wait()
    lease.acquire()  # returns: the kernel dropped the dead process's lock
    assert list(lease.held) == [0]
    lease.release()


def test_a_holder_that_never_pauses_makes_nobody_wait_for_ever(folder, monkeypatch):
    """A suspended fit (Ctrl-Z, a debugger) keeps its cores; the others go on without."""
    monkeypatch.setattr(_cpu, "PATIENCE", 0.05)
    holder, waiter = CoreLease(folder, 1, 1), CoreLease(folder, 1, 1)
    holder.acquire()
    assert waiter.acquire() is False  # patience ran out: it runs without the core
    assert waiter.held == {}
    waiter.pause()  # the core is still held: nothing to take, and no long wait
    assert waiter.held == {}
    holder.release()
    waiter.pause()  # free now: taken
    assert list(waiter.held) == [0]
    waiter.release()


def test_blocks_nest_and_the_outermost_holds_the_cores(folder, monkeypatch):
    taken = []
    monkeypatch.setattr(CoreLease, "acquire", lambda self: taken.append(self))
    with cpu_turns("cpu"), cpu_turns("cpu"):
        assert len(taken) == 1
    with cpu_turns("cuda"), cpu_turns("meta"):
        assert len(taken) == 1  # no cores held for work on other devices


def test_sharing_off(monkeypatch):
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, "off")
    assert lock_folder() is None
    with cpu_turns("cpu"):
        assert getattr(_cpu._local, "lease", None) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_holds_its_cores_only_while_it_runs(folder, monkeypatch):
    """A fit that pauses between batches predicts exactly what one without sharing does."""
    X = [rock_salt(), diamond(), rock_salt(5.5, ("K", "Cl")), diamond(5.43, "Si")]
    y = np.random.default_rng(0).random((4, 7))
    kwargs = dict(hidden=8, max_epochs=3, batch_size=2, random_state=0, validation_fraction=0)
    paused = []
    monkeypatch.setattr(CoreLease, "waiting", lambda self: paused.append(1) or False)
    shared = GraphNetworkDOSRegressor(**kwargs).fit(X, y).predict(X)
    assert paused, "the fit never offered its turn"
    assert getattr(_cpu._local, "lease", None) is None
    lease = CoreLease(folder, torch.get_num_threads(), _cpu.n_cores())
    lease.acquire()  # free again
    lease.release()
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, "off")
    alone = GraphNetworkDOSRegressor(**kwargs).fit(X, y).predict(X)
    np.testing.assert_array_equal(shared, alone)
