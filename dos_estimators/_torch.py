"""Torch settings the package switches on for a block of work and restores after."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

from ._cpu import cpu_turns

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED = (False, False)


@contextmanager
def deterministic(device: str):
    """Run a block with torch's deterministic kernels and its share of the CPU cores.

    The setting is restored after the block, and the cores given back (see
    :func:`~dos_estimators._cpu.cpu_turns`).

    With several threads, some CPU kernels (scatter reductions among them) may sum in an
    order that depends on how the threads are scheduled; on a busy machine two fits with
    the same seed then differed by up to 5e-7. Their deterministic versions make fits and
    predictions bit-identical from run to run at the same thread count. (A different
    thread count splits some sums differently: a fit on 1 thread and one on 2 differed by
    3e-7.) On other devices nothing changes.

    Parameters
    ----------
    device : str or torch.device
        The device the block computes on.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    with cpu_turns(device):
        with _deterministic_kernels():
            yield


@contextmanager
def _deterministic_kernels():
    global _DEPTH, _SAVED
    # Blocks may nest and run in several threads at once: the first to enter saves the
    # setting and switches it on, the last to leave restores it.
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
            )
            torch.use_deterministic_algorithms(True)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                torch.use_deterministic_algorithms(_SAVED[0], warn_only=_SAVED[1])


@contextmanager
def seeded(seed: int, device: str):
    """Run a block with torch's global generators seeded and deterministic kernels, then
    restore both."""
    devices = [torch.device(device)] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices), deterministic(device):
        torch.manual_seed(seed)
        yield
