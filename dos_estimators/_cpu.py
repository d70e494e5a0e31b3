"""Sharing the CPU cores between fits: the cores as machine-wide locks, held in turns.

torch's CPU kernels run on OpenMP threads that spin while they wait for each other.
Two processes that each run as many threads as there are cores therefore do not
share the cores: each one's threads wait, spinning, for threads the other process
has pushed off a core, and both fits run about twenty times slower than one alone
(measured on 2 cores). Fewer threads per process would avoid that but make a fit
alone slower, and a fit's last digits depend on its thread count.

So the package keeps torch's thread count and shares the cores in time instead.
Each core of the machine is a lock file; a block of CPU work (a fit, a prediction,
a batch of pretrained-potential features) holds as many of them as torch has
threads, and gives them back for a moment after every batch (:func:`pause`), when a
waiting block takes its turn. Alone, a block always finds its cores free and runs
as before; two blocks at once alternate batch by batch, each at full speed. A
process that dies releases its locks with it (they are ``flock`` locks).

The locks live in a per-user folder of the temporary directory, or in the folder
named by the environment variable ``DOS_ESTIMATORS_CPU_LOCKS``; setting it to
``off`` turns the sharing off (each block then runs as soon as it is called).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from contextlib import contextmanager

import torch

ENVIRONMENT_VARIABLE = "DOS_ESTIMATORS_CPU_LOCKS"

# Seconds of a turn: a block that has held its cores this long gives them to a waiting
# block at its next pause. Every hand-over costs the two processes some milliseconds
# (torch's idle threads spin a while before they sleep, and the caches go cold), so
# the turns are longer than one batch (tens of milliseconds on 2 cores).
TURN = 0.5

# Seconds a block waits for its cores at most (see CoreLease).
PATIENCE = 30.0

_local = threading.local()


def lock_folder() -> str | None:
    """The folder of the core locks, created if missing; ``None`` when sharing is off."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if value.strip().lower() == "off":
        return None
    folder = value or os.path.join(tempfile.gettempdir(), f"dos_estimators-cpu-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def n_cores() -> int:
    """The physical cores this process may run on (hyper-threads of one core count once).

    torch starts one thread per physical core, so that is how many core locks there are.
    """
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with (
                open(topology + "physical_package_id") as package,
                open(topology + "core_id") as core,
            ):
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return len(cores)


class CoreLease:
    """``n_tokens`` of the machine's ``n_cores`` core locks, taken and given back in turns.

    Parameters
    ----------
    folder : str
        The folder of the lock files ``core-0`` … ``core-{n_cores - 1}`` and ``gate``.
    n_tokens : int
        How many cores the holder computes on (torch's thread count, at most ``n_cores``).
    n_cores : int
        How many core locks there are.

    Notes
    -----
    Waiting is fair and cannot deadlock. A block that waits first takes the ``gate``
    lock and keeps it while it waits for cores, so a holder that gives its cores back
    in :meth:`pause` cannot take them again before the waiter has had them. Only the
    gate's holder ever waits for a core, and a core's holder never waits for anything
    while it holds one (:meth:`pause` gives the cores back before it takes the gate).

    A holder that never pauses (a process suspended with Ctrl-Z, or stopped in a
    debugger) would make the others wait for ever, so nobody waits longer than
    ``PATIENCE`` seconds: a block that has waited that long runs on the cores it has
    and takes the missing ones whenever it finds them free (see :meth:`pause`).
    """

    def __init__(self, folder: str, n_tokens: int, n_cores: int):
        self.folder = folder
        self.n_cores = n_cores
        self.n_tokens = max(1, min(n_tokens, n_cores))
        self.held: dict[int, int] = {}  # core index -> open file descriptor
        self.since = 0.0  # when the cores were last taken (time.monotonic)
        self.wait_again_at = 0.0  # after a wait ran out of patience: when to wait again

    def _open(self, name: str) -> int:
        return os.open(os.path.join(self.folder, name), os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    def _lock(fd: int, deadline: float | None) -> bool:
        """Lock ``fd``: at once (``deadline`` None) or waiting until ``deadline`` at most.

        ``flock`` cannot wait with a limit, so the wait tries again after a pause that
        grows to 5 ms: a hand-over comes at most that late.
        """
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    return False
            time.sleep(delay)
            delay = min(2 * delay, 0.005)

    def _take(self, core: int, deadline: float | None) -> bool:
        fd = self._open(f"core-{core}")
        try:
            locked = self._lock(fd, deadline)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            return False
        self.held[core] = fd
        return True

    def _take_free(self) -> None:
        """Take the cores that are free now, up to ``n_tokens``."""
        for core in range(self.n_cores):
            if len(self.held) == self.n_tokens:
                break
            if core not in self.held:
                self._take(core, None)

    def acquire(self, patience: float | None = None) -> bool:
        """Wait for the gate, then for ``n_tokens`` free cores, ``patience`` seconds at most.

        Parameters
        ----------
        patience : float, optional
            Defaults to ``PATIENCE``.

        Returns
        -------
        bool
            Whether all ``n_tokens`` cores are held (False: patience ran out first; the
            cores found free are held).
        """
        deadline = time.monotonic() + (PATIENCE if patience is None else patience)
        gate = self._open("gate")
        try:
            if self._lock(gate, deadline):
                self._take_free()
                # Every other core is busy: wait for the first one not held here. Its
                # holder gives it back at its next pause.
                while len(self.held) < self.n_tokens:
                    missing = next(c for c in range(self.n_cores) if c not in self.held)
                    if not self._take(missing, deadline):
                        break
                    self._take_free()
        except BaseException:
            self.release()
            raise
        finally:
            os.close(gate)  # closing the file releases the lock
        self.since = time.monotonic()
        if len(self.held) < self.n_tokens:
            self._take_free()  # the last chance, without the gate
        if len(self.held) < self.n_tokens:
            self.wait_again_at = self.since + PATIENCE
            return False
        return True

    def release(self) -> None:
        """Give every held core back."""
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()

    def waiting(self) -> bool:
        """Whether another block waits for cores (it holds the gate while it waits)."""
        gate = self._open("gate")
        try:
            return not self._lock(gate, None)
        finally:
            os.close(gate)

    def pause(self) -> None:
        """If another block waits and this turn has lasted ``TURN`` seconds, let it go first.

        The cores are given back and taken again; the waiting block has them in
        between. Alone, a pause costs one ``flock`` call every ``TURN`` seconds. A
        block short of cores (its wait ran out of patience) takes free ones instead,
        and every ``PATIENCE`` seconds queues again for ``4 * TURN`` seconds at most
        (a live holder hands over within a turn), so that it rejoins the turns when
        the holder that kept it waiting pauses again.
        """
        now = time.monotonic()
        if len(self.held) < self.n_tokens:
            if now < self.wait_again_at:
                self._take_free()
            else:
                self.release()
                self.acquire(patience=4 * TURN)
            return
        if now - self.since < TURN or not self.waiting():
            return
        self.release()
        self.acquire()


@contextmanager
def cpu_turns(device):
    """Hold this process's share of the CPU cores for a block of work on ``device``.

    Blocks nest (the outermost one holds the cores) and each thread holds its own
    share. On devices other than the CPU, and with sharing off, nothing is held.

    Parameters
    ----------
    device : str or torch.device
        The device the block computes on.
    """
    if torch.device(device).type != "cpu" or getattr(_local, "lease", None) is not None:
        yield
        return
    folder = lock_folder()
    if folder is None:
        yield
        return
    cores = n_cores()
    lease = CoreLease(folder, torch.get_num_threads(), cores)
    lease.acquire()
    _local.lease = lease
    try:
        yield
    finally:
        _local.lease = None
        lease.release()


def pause() -> None:
    """Let a waiting block of another process (or thread) run its turn; then go on.

    Called after every batch of training, validation and prediction. Does nothing
    outside :func:`cpu_turns`.
    """
    lease = getattr(_local, "lease", None)
    if lease is not None:
        lease.pause()
