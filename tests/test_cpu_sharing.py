"""Sharing the CPU cores between fits: turns, hand-over, dead holders, the off switch."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from conftest import diamond, rock_salt

from dos_estimators import _cpu
from dos_estimators._cpu import CoreLease, cores, cpu_turns, lock_folder, pause
from dos_estimators.estimators import GraphNetworkDOSRegressor

# A wait on a state gives up after this long, so that a bug fails instead of hanging.
GIVE_UP = 120
CORE = ["core-x"]  # one core, by a name no real core has

# A holder in another process (threads of one process do not wait for each other),
# driven line by line from the test: every step waits on what it prints.
HOLDER = """
import sys
from dos_estimators import _cpu
_cpu.TURN = 0.0
lease = _cpu.CoreLease(sys.argv[1], 1, ["core-x"])
lease.acquire()
print("held", flush=True)
for line in sys.stdin:
    if line.strip() == "waiting?":
        print(lease.waiting(), flush=True)
    elif line.strip() == "pause":
        lease.pause()
        print("has the core again", flush=True)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, str(tmp_path))
    monkeypatch.setattr(_cpu, "TURN", 0.0)
    return str(tmp_path)


@pytest.fixture
def holder(folder):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, folder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def ask(process, question: str) -> str:
    process.stdin.write(question + "\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_a_waiting_block_runs_at_the_holders_next_pause(folder, holder):
    waiter = CoreLease(folder, 1, CORE)
    events = []

    def wait_for_the_core():
        waiter.acquire()
        events.append("waiter has the core")
        waiter.release()

    thread = threading.Thread(target=wait_for_the_core)
    thread.start()
    deadline = time.monotonic() + GIVE_UP
    while ask(holder, "waiting?") != "True":  # the waiter holds the gate while it waits
        assert time.monotonic() < deadline, "the waiter never queued"
    assert events == []
    # The holder gives the core to the waiter and has it back only after the waiter.
    assert ask(holder, "pause") == "has the core again"
    events.append("holder has the core again")
    thread.join(GIVE_UP)
    assert events == ["waiter has the core", "holder has the core again"]


def test_a_pause_with_nobody_waiting_keeps_the_cores(folder):
    lease = CoreLease(folder, 2, ["core-x", "core-y"])
    lease.acquire()
    held = dict(lease.held)
    assert not lease.waiting()
    lease.pause()
    assert lease.held == held  # the same open files: nothing was given back
    lease.release()


def test_blocks_that_fit_on_the_cores_do_not_wait(folder, holder):
    lease = CoreLease(folder, 1, ["core-x", "core-y"])
    assert lease.acquire() is True  # core-x is taken, core-y is free: no wait
    assert list(lease.held) == ["core-y"]
    lease.release()


def test_a_killed_holder_releases_its_cores(folder, holder):
    lease = CoreLease(folder, 1, CORE)
    assert not lease._take("core-x")
    holder.kill()
    holder.wait()
    assert lease.acquire() is True  # the kernel dropped the dead process's lock
    assert list(lease.held) == ["core-x"]
    lease.release()


def test_a_holder_that_never_pauses_makes_nobody_wait_for_ever(folder, holder, monkeypatch):
    """A suspended fit (Ctrl-Z, a debugger) keeps its cores; the others go on without."""
    monkeypatch.setattr(_cpu, "PATIENCE", 0.05)
    waiter = CoreLease(folder, 1, CORE)
    assert waiter.acquire() is False  # patience ran out: it runs without the core
    assert waiter.held == {}
    waiter.pause()  # the core is still held: nothing to take, and no long wait
    assert waiter.held == {}
    holder.kill()
    holder.wait()
    waiter.pause()  # free now: taken
    assert list(waiter.held) == ["core-x"]
    waiter.release()


def test_threads_of_one_process_do_not_wait_for_each_other(folder):
    """A thread that the holder waits for (a callback's worker) must not wait for it."""
    first, second = CoreLease(folder, 1, CORE), CoreLease(folder, 1, CORE)
    assert first.acquire() is True
    result = []
    thread = threading.Thread(target=lambda: result.append(second.acquire()))
    thread.start()
    thread.join(GIVE_UP)
    assert result == [False]  # returned at once, without the core
    first.release()
    second.release()


def test_blocks_nest_and_the_outermost_holds_the_cores(folder, monkeypatch):
    taken = []
    monkeypatch.setattr(CoreLease, "acquire", lambda self, **kwargs: taken.append(self))
    with cpu_turns("cpu"), cpu_turns("cpu"):
        assert len(taken) == 1
    with cpu_turns("cuda"), cpu_turns("meta"):
        assert len(taken) == 1  # no cores held for work on other devices
    with cpu_turns("cpu", share=False), cpu_turns("cpu"):
        assert len(taken) == 1  # nothing nested in an unshared block waits either


def test_sharing_off(monkeypatch):
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, "off")
    assert lock_folder() is None
    with cpu_turns("cpu"):
        pause()  # nothing to give back


def test_an_unusable_lock_folder_warns_and_runs_without_turns(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, str(blocker / "locks"))
    monkeypatch.setattr(_cpu, "_WARNED", [])
    with pytest.warns(RuntimeWarning, match="cannot be made"), cpu_turns("cpu"):
        pause()


def test_cores_are_named_by_their_cpus():
    names = cores()
    assert 1 <= len(names) == len(set(names)) == _cpu.n_cores()
    assert all(name.startswith(("core-", "cpu-")) for name in names)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_pauses_and_predicts_as_without_sharing(folder, monkeypatch):
    X = [rock_salt(), diamond(), rock_salt(5.5, ("K", "Cl")), diamond(5.43, "Si")]
    y = np.random.default_rng(0).random((4, 7))
    kwargs = dict(hidden=8, max_epochs=3, batch_size=2, random_state=0, validation_fraction=0.25)
    asked = []
    monkeypatch.setattr(CoreLease, "waiting", lambda self: asked.append(1) or False)
    shared = GraphNetworkDOSRegressor(**kwargs).fit(X, y).predict(X)
    assert asked, "the fit never offered its turn"
    assert getattr(_cpu._local, "lease", None) is None
    lease = CoreLease(folder, torch.get_num_threads(), cores())
    assert lease.acquire() is True  # free again
    lease.release()
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, "off")
    alone = GraphNetworkDOSRegressor(**kwargs).fit(X, y).predict(X)
    np.testing.assert_array_equal(shared, alone)


@pytest.mark.slow
def test_sharing_is_off_unless_asked_and_import_does_nothing(tmp_path):
    # A library user who never sets DOS_ESTIMATORS_CPU_LOCKS gets no lock file, no wait
    # and no fork hook: nothing runs at import, and a fit's block holds nothing.
    script = (
        "import os, tempfile\n"
        "os.environ.pop('DOS_ESTIMATORS_CPU_LOCKS', None)\n"
        "tempfile.tempdir = os.environ['PROBE_TMP']\n"
        "import dos_estimators, dos_estimators.estimators.nets\n"
        "from dos_estimators import _cpu\n"
        "assert _cpu.lock_folder() is None\n"
        "with _cpu.cpu_turns('cpu'):\n"
        "    assert isinstance(_cpu._local.lease, _cpu._NotShared)\n"
        "assert _cpu._FORK_HOOK == []\n"
        "print(sorted(os.listdir(os.environ['PROBE_TMP'])))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != _cpu.ENVIRONMENT_VARIABLE}
    env["PROBE_TMP"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["on", "1", "true"])
def test_on_takes_the_per_user_folder(value, tmp_path, monkeypatch):
    monkeypatch.setenv(_cpu.ENVIRONMENT_VARIABLE, value)
    monkeypatch.setattr(_cpu.tempfile, "gettempdir", lambda: str(tmp_path))
    assert lock_folder() == str(tmp_path / f"dos_estimators-cpu-{os.getuid()}")
