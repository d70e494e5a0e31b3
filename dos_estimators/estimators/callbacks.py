"""The training callbacks of a regressor's networks, in the order skorch calls them.

skorch's own callbacks do the work: ``LRScheduler`` (the one-cycle schedule),
``EarlyStopping``, ``ProgressBar``; checkpoints and their resumption are
:mod:`.checkpoint`'s. The skorch callback that takes turns on the CPU cores is
:class:`.nets.CPUTurns`.
"""

from __future__ import annotations

import torch
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar

from .checkpoint import ResumeTraining


def one_cycle(max_lr, max_epochs: int, steps_per_epoch: int) -> LRScheduler:
    """The one-cycle learning-rate schedule over ``max_epochs`` epochs, stepped per batch.

    ``max_lr`` is the peak rate: one number, or one per optimizer parameter group.
    """
    total_steps = max_epochs * steps_per_epoch
    # A tenth of the steps warm up, but at least two: torch divides by
    # (warm-up steps - 1), which is zero for exactly one.
    warm_up = 0.1 if total_steps > 10 else min(0.9, 2 / total_steps)
    return LRScheduler(
        policy=torch.optim.lr_scheduler.OneCycleLR,
        max_lr=max_lr,
        total_steps=total_steps,
        pct_start=warm_up,
        step_every="batch",
    )


def user_callbacks(callbacks) -> list:
    """The ``callbacks`` parameter as ``(name, callback)`` pairs."""
    return [
        callback if isinstance(callback, tuple) else (f"user_{i}", callback)
        for i, callback in enumerate(callbacks or [])
    ]


def training_callbacks(
    estimator, steps_per_epoch: int, validate: bool, checkpoint=None, max_lr=None
) -> list:
    """The callbacks of one network's training, as ``(name, callback)`` pairs.

    Parameters
    ----------
    estimator : DOSRegressorBase
        Its ``lr_schedule`` (one-cycle when it has none), ``patience``, ``verbose``,
        ``max_epochs``, ``lr`` and ``callbacks`` decide the list.
    steps_per_epoch : int
    validate : bool
        Whether early stopping watches the validation loss (else the training loss).
    checkpoint : EpochCheckpoint, optional
        Comes last, so that it saves what every other callback did in the epoch; when it
        resumes, the callback that loads it comes right after the scheduler and early
        stopping, whose ``on_train_begin`` would reset what it restores.
    max_lr : float or list of float, optional
        The one-cycle schedule's peak rate per optimizer parameter group (default:
        ``lr`` for all).
    """
    callbacks = []
    if getattr(estimator, "lr_schedule", "onecycle") == "onecycle":
        peak = estimator.lr if max_lr is None else max_lr
        callbacks.append(("lr_schedule", one_cycle(peak, estimator.max_epochs, steps_per_epoch)))
    if estimator.patience:
        monitor = "valid_loss" if validate else "train_loss"
        stopping = EarlyStopping(monitor=monitor, patience=estimator.patience, load_best=True)
        callbacks.append(("early_stopping", stopping))
    if checkpoint is not None and checkpoint.resume_from is not None:
        callbacks.append(("load_checkpoint", ResumeTraining(checkpoint)))
    if estimator.verbose and estimator.verbose > 1:
        callbacks.append(("progress_bar", ProgressBar()))
    callbacks += user_callbacks(estimator.callbacks)
    if checkpoint is not None:
        callbacks.append(("checkpoint", checkpoint))
    return callbacks
