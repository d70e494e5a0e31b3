"""Sharing the CPU cores between fits, when asked: the physical cores as per-user locks.

torch's CPU kernels run on OpenMP threads that spin while they wait for each other.
Two processes that each run as many threads as there are cores therefore do not
share the cores: each one's threads wait, spinning, for threads the other process
has pushed off a core, and both fits run several times (up to twenty times) slower
than one alone. Fewer threads per process (``OMP_NUM_THREADS=1``, threadpoolctl)
avoid that, as scikit-learn and joblib advise, but make a fit alone slower.

So the package can share the cores in time instead, when the environment variable
``DOS_ESTIMATORS_CPU_LOCKS`` turns it on (``on``: a per-user folder of the temporary
directory; or the folder to use, which processes that should take turns must share).
It is off by default: nothing here runs at import, and without the variable no lock
file is made and nothing waits.

When on, each physical core is a lock file; a block of CPU work (a fit, a prediction:
``DOSRegressorBase._turns``, and the package's seeded blocks) holds as many of the cores
it may run on as torch has threads, and at each :func:`pause` (after every training and
validation batch, through the skorch callback ``CPUTurns``) hands them to a waiting
block once it has held them for ``TURN`` seconds. Alone, a block always finds its cores
free and runs as before; two blocks at once alternate, each at full speed. A process
that dies releases its locks with it (they are ``flock`` locks). Where the folder cannot
be used (no ``fcntl``, a read-only file system), a warning says so once and blocks run
without sharing.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from functools import cache

try:
    import fcntl
except ImportError:  # not a POSIX system: no sharing
    fcntl = None

ENVIRONMENT_VARIABLE = "DOS_ESTIMATORS_CPU_LOCKS"

# Seconds of a turn: a block that has held its cores this long gives them to a waiting
# block at its next pause. Every hand-over costs the two processes some milliseconds
# (torch's idle threads spin a while before they sleep, and the caches go cold), so
# the turns are longer than one batch (tens of milliseconds on 2 cores).
TURN = 0.5

# Seconds a block waits for its cores at most (see CoreLease).
PATIENCE = 30.0

_local = threading.local()
# Lock names held by this process's threads: a thread never waits for cores that
# another thread of its own process holds (that thread may be waiting for it).
_PROCESS_HELD: set[str] = set()
_PROCESS_LOCK = threading.Lock()
_WARNED = []


def _warn_once(message: str) -> None:
    if not _WARNED:
        _WARNED.append(message)
        warnings.warn(
            f"{message}; fits and predictions run without taking turns on the CPU cores "
            f"(set {ENVIRONMENT_VARIABLE} to a writable folder, or to 'off').",
            RuntimeWarning,
            stacklevel=4,
        )


ON = ("on", "1", "true", "yes")
OFF = ("", "off", "0", "false", "no")


def lock_folder() -> str | None:
    """The folder of the core locks, created if missing; ``None`` when sharing is off.

    Sharing is on only where ``DOS_ESTIMATORS_CPU_LOCKS`` names a folder or says ``on``.
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value.lower() in OFF:
        return None
    if fcntl is None:
        _warn_once("this system has no flock")
        return None
    if value.lower() in ON:
        value = os.path.join(tempfile.gettempdir(), f"dos_estimators-cpu-{os.getuid()}")
    try:
        os.makedirs(value, mode=0o700, exist_ok=True)
    except OSError as error:
        _warn_once(f"the CPU lock folder {value!r} cannot be made ({error})")
        return None
    return value


@cache
def _cores_of(cpus: tuple[int, ...]) -> tuple[str, ...]:
    """Lock names of the physical cores of ``cpus`` (hyper-threads of one core: one name)."""
    names = []
    for cpu in cpus:
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with open(topology + "core_cpus_list") as siblings:
                name = "core-" + siblings.read().strip().replace(",", "_")
        except OSError:
            try:
                with open(topology + "thread_siblings_list") as siblings:
                    name = "core-" + siblings.read().strip().replace(",", "_")
            except OSError:
                name = f"cpu-{cpu}"
        if name not in names:
            names.append(name)
    return tuple(names)


def cores() -> tuple[str, ...]:
    """Lock names of the physical cores this process may run on.

    A core is named by the list of its logical CPUs (``core-0_16`` for CPU 0 and its
    hyper-thread 16), so that processes pinned to different CPUs never share a lock.
    """
    try:
        cpus = tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(f"cpu-{i}" for i in range(os.cpu_count() or 1))
    return _cores_of(cpus)


def n_cores() -> int:
    """The number of physical cores this process may run on."""
    return len(cores())


class CoreLease:
    """``n_tokens`` of the given cores' locks, taken and given back in turns.

    Parameters
    ----------
    folder : str
        The folder of the lock files (one per core, and ``gate``).
    n_tokens : int
        How many cores the holder computes on (torch's thread count, at most
        ``len(names)``).
    names : sequence of str
        The lock names of the cores it may take (see :func:`cores`).

    Notes
    -----
    A block that has to wait takes the ``gate`` lock first and keeps it while it
    waits, and a holder hands its cores over at a pause only while the gate is
    taken; a holder that has just handed over waits for the gate in turn. So two
    blocks alternate, and with more the cores pass from holder to waiter without
    starving anyone in practice (the gate is polled, not a queue: who gets it next
    among several waiters is not first come, first served). Only the gate's holder
    waits for cores, and a core's holder never waits for anything while it holds
    one (a pause gives the cores back before it takes the gate), so there is no
    deadlock.

    Nobody waits longer than ``PATIENCE`` seconds for a holder that never pauses (a
    process suspended with Ctrl-Z, or stopped in a debugger): a block that has
    waited that long runs on the cores it has and takes the missing ones whenever it
    finds them free (see :meth:`pause`). A thread never waits for cores held by
    another thread of its own process.
    """

    def __init__(self, folder: str, n_tokens: int, names):
        self.folder = folder
        self.names = tuple(names)
        self.n_tokens = max(1, min(n_tokens, len(self.names)))
        self.held: dict[str, int] = {}  # lock name -> open file descriptor
        self.since = 0.0  # when the cores were last taken (time.monotonic)
        self.wait_again_at = 0.0  # after a wait ran out of patience: when to wait again

    def _open(self, name: str) -> int:
        return os.open(os.path.join(self.folder, name), os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    def _lock(fd: int, deadline: float | None, shared: bool = False) -> bool:
        """Lock ``fd``: at once (``deadline`` None) or waiting until ``deadline`` at most.

        ``flock`` cannot wait with a limit, so the wait tries again after a pause that
        grows to 5 ms: a hand-over comes at most that late.
        """
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, mode)
                return True
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    return False
            time.sleep(delay)
            delay = min(2 * delay, 0.005)

    def _take(self, name: str) -> bool:
        """Take core ``name`` if it is free now."""
        fd = self._open(name)
        try:
            if not self._lock(fd, None):
                os.close(fd)
                return False
        except BaseException:
            os.close(fd)
            raise
        self.held[name] = fd
        with _PROCESS_LOCK:
            _PROCESS_HELD.add(name)
        return True

    def _take_free(self) -> None:
        """Take the cores that are free now, up to ``n_tokens``."""
        for name in self.names:
            if len(self.held) == self.n_tokens:
                break
            if name not in self.held:
                self._take(name)

    def _blocked_by_own_process(self) -> bool:
        """Whether another thread of this process holds a core this lease could take."""
        with _PROCESS_LOCK:
            return any(n in _PROCESS_HELD for n in self.names if n not in self.held)

    def acquire(self, patience: float | None = None, queue: bool = False) -> bool:
        """Take ``n_tokens`` cores: free ones at once, else wait (``patience`` s at most).

        Parameters
        ----------
        patience : float, optional
            Defaults to ``PATIENCE``.
        queue : bool, default=False
            Take the gate before any core, even a free one: a holder that has just
            given its cores back must let the block that waits for them (and holds the
            gate) have them first.

        Returns
        -------
        bool
            Whether all ``n_tokens`` cores are held (False: patience ran out first, or
            another thread of this process holds the missing ones; the cores found free
            are held).
        """
        if not queue:
            self._take_free()
        if len(self.held) < self.n_tokens and not self._blocked_by_own_process():
            deadline = time.monotonic() + (PATIENCE if patience is None else patience)
            gate = self._open("gate")
            try:
                if self._lock(gate, deadline):
                    delay = 0.0002
                    while len(self.held) < self.n_tokens and time.monotonic() < deadline:
                        self._take_free()
                        if len(self.held) < self.n_tokens:
                            if self._blocked_by_own_process():
                                break
                            time.sleep(delay)
                            delay = min(2 * delay, 0.005)
            except BaseException:
                self.release()
                raise
            finally:
                os.close(gate)  # closing the file releases the lock
        self.since = time.monotonic()
        if len(self.held) < self.n_tokens:
            self.wait_again_at = self.since + PATIENCE
            return False
        return True

    def release(self) -> None:
        """Give every held core back."""
        with _PROCESS_LOCK:
            _PROCESS_HELD.difference_update(self.held)
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()

    def waiting(self) -> bool:
        """Whether another block waits for cores (it holds the gate while it waits)."""
        gate = self._open("gate")
        try:
            return not self._lock(gate, None, shared=True)
        finally:
            os.close(gate)

    def pause(self) -> None:
        """If another block waits and this turn has lasted ``TURN`` seconds, let it go first.

        The cores are given back and taken again; the waiting block has them in
        between. Alone, a pause costs a clock reading, and one ``flock`` call every
        ``TURN`` seconds. A block short of cores (its wait ran out of patience) takes
        free ones instead, and every ``PATIENCE`` seconds queues again for ``4 * TURN``
        seconds at most (a live holder hands over within a turn), so that it rejoins
        the turns when the holder that kept it waiting pauses again.
        """
        now = time.monotonic()
        if now - self.since < TURN:
            return
        if len(self.held) < self.n_tokens:
            if now < self.wait_again_at:
                self._take_free()
            else:
                self.release()
                self.acquire(patience=4 * TURN, queue=True)
            return
        if not self.waiting():
            self.since = now
            return
        self.release()
        self.acquire(queue=True)


class _NotShared:
    """Stands for a lease in a block that shares nothing (see :func:`cpu_turns`)."""

    def pause(self) -> None:
        pass

    def release(self) -> None:
        pass


@contextmanager
def cpu_turns(device, share: bool = True):
    """Hold this process's share of the CPU cores for a block of work on ``device``.

    Blocks nest (the outermost one decides and holds the cores) and each thread holds
    its own share. On devices other than the CPU, and with sharing off, nothing is held.

    Parameters
    ----------
    device : str or torch.device
        The device the block computes on.
    share : bool, default=True
        False for a block that must not wait for other processes, nor make them wait,
        nor any block nested in it: one of several processes that train together
        (accelerate's data-parallel processes wait for each other at every step, and
        would wait for ever for one waiting for its turn).
    """
    if getattr(_local, "lease", None) is not None:
        yield
        return
    import torch

    folder = None
    if share and torch.device(device).type == "cpu":
        folder = lock_folder()
    lease = _NotShared()
    if folder is not None:
        names = cores()
        candidate = CoreLease(folder, torch.get_num_threads(), names)
        _forget_leases_in_children()
        try:
            candidate.acquire()
            lease = candidate
        except OSError as error:  # the folder went away, or cannot be written
            candidate.release()
            _warn_once(f"the CPU lock folder {folder!r} cannot be used ({error})")
    _local.lease = lease
    try:
        yield
    finally:
        _local.lease = None
        lease.release()


def pause() -> None:
    """Let a waiting block of another process take its turn, if it is time; then go on.

    Called after every training and validation batch (the skorch callback
    ``dos_estimators.estimators.nets.CPUTurns``) and in the learned embeddings' and
    pretrained potentials' batch loops. Does nothing outside :func:`cpu_turns` or with
    sharing off; costs a clock reading when nobody waits.
    """
    lease = getattr(_local, "lease", None)
    if lease is None:
        return
    try:
        lease.pause()
    except OSError as error:  # the lock folder went away during a long block
        lease.release()
        _local.lease = _NotShared()
        _warn_once(f"the CPU lock folder cannot be used any more ({error})")


def _forget_in_child() -> None:
    """After a fork: the child holds no turn (its copies of the lock files are closed)."""
    lease = getattr(_local, "lease", None)
    if isinstance(lease, CoreLease):
        for fd in lease.held.values():
            try:
                os.close(fd)
            except OSError:
                pass
        lease.held.clear()
    _local.lease = None
    _PROCESS_HELD.clear()


_FORK_HOOK = []


def _forget_leases_in_children() -> None:
    """Once sharing is used: make forked children forget the parent's lease."""
    with _PROCESS_LOCK:
        if not _FORK_HOOK and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_in_child)
            _FORK_HOOK.append(True)
