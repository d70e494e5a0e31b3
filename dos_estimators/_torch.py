"""Torch settings the package switches on for a block of work and restores after."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def deterministic(device: str):
    """Run a block with torch's deterministic kernels on the CPU, then restore the setting.

    With several threads, some CPU kernels (scatter reductions among them) may sum in an
    order that depends on how the threads are scheduled; on a busy machine two fits with
    the same seed then differed by up to 5e-7. Their deterministic versions make fits and
    predictions bit-identical at any thread count. On other devices nothing changes.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
