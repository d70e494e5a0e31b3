"""Where the study of :func:`~dos_estimators.tuning.tune` lives, and opening it.

In memory, in a database (``RDBStorage``, with optuna's heartbeat) or in a journal file
(with the heartbeat of :mod:`._heartbeat`); created, or continued when it exists.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning

from ._heartbeat import _JournalHeartbeat


def _open_study(
    storage,
    study_name,
    *,
    sampler,
    pruner,
    random_state,
    heartbeat_interval,
    grace_period,
    max_retry,
):
    """The study of :func:`~dos_estimators.tuning.tune`, created or continued, ready to run.

    Its sampler is set (the default one seeded), and the trials of workers that died since
    the last run are failed, and re-queued, now rather than when this worker next asks for
    a trial.

    Parameters
    ----------
    storage, study_name, sampler, pruner, random_state
        As :func:`~dos_estimators.tuning.tune` takes them.
    heartbeat_interval, grace_period, max_retry
        As :func:`~dos_estimators.tuning.tune` takes them, for a storage made from a URL or
        a path.

    Returns
    -------
    study : optuna.Study
        A study that maximises.
    journal_heartbeat : _JournalHeartbeat or None
        The heartbeat to beat while trials run, for a journal file made here.

    Raises
    ------
    ValueError
        If a persistent ``storage`` comes without ``study_name``, ``storage`` is of no
        supported kind, or the stored study minimises.
    """
    if storage is not None and study_name is None:
        raise ValueError(
            f"storage={storage!r} needs a study_name, so that other workers and later runs "
            "continue the same study."
        )
    optuna_storage, journal_heartbeat = _make_storage(
        storage, heartbeat_interval, grace_period, max_retry
    )
    study = optuna.create_study(
        storage=optuna_storage,
        study_name=study_name,
        sampler=sampler,
        pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
        direction="maximize",
        load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(
            f"Study {study.study_name!r} in {storage!r} minimises; tune() maximises scores. "
            "Choose another study_name."
        )
    if sampler is None:
        study.sampler = _default_sampler(study, random_state)
    # Trials of workers that died since the last run are failed (and retried) now,
    # not only when this worker next asks for a trial.
    optuna.storages.fail_stale_trials(study)
    if journal_heartbeat is not None:
        journal_heartbeat.fail_stale_trials(study)
    return study, journal_heartbeat


def _default_sampler(study, random_state):
    """A ``TPESampler`` seeded from ``random_state`` and the trials already in ``study``.

    So that a re-run or a second worker does not repeat the first trials' draws.

    Parameters
    ----------
    study : optuna.Study
        The study the sampler is for.
    random_state : int or None
        ``None`` leaves the sampler unseeded.

    Returns
    -------
    optuna.samplers.TPESampler
    """
    seed = None
    if random_state is not None:
        seed = int(np.random.SeedSequence([random_state, len(study.trials)]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed)


def _make_storage(storage, heartbeat_interval, grace_period, max_retry):
    """An optuna storage from ``tune``'s ``storage`` argument (see there).

    Parameters
    ----------
    storage : None, str, path-like or optuna.storages.BaseStorage
        In memory (``None``), a database URL, a journal file path, or a storage as it is.
    heartbeat_interval : int or None
        Seconds between heartbeats of running trials; ``None`` turns the heartbeat off.
    grace_period : int or None
        Seconds without heartbeat before a running trial counts as dead.
    max_retry : int or None
        Times a dead trial is re-queued.

    Returns
    -------
    storage : None or optuna.storages.BaseStorage
    journal_heartbeat : _JournalHeartbeat or None
        The heartbeat of a journal file made here; optuna beats that of an ``RDBStorage``.

    Raises
    ------
    ValueError
        If ``storage`` is of none of these kinds.
    """
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage, None
    if not isinstance(storage, (str, os.PathLike)):
        raise ValueError(
            "storage must be None, a database URL, a journal file path or an optuna storage, "
            f"got {type(storage).__name__}."
        )
    with warnings.catch_warnings():
        # The heartbeat and the retry callback are marked experimental by optuna.
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = (
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            if heartbeat_interval is not None
            else None
        )
        storage = os.fspath(storage)
        if "://" in storage:
            # SQLite makes a writer wait while another one holds the lock; several workers
            # writing one file need more than the default five seconds of patience.
            engine_kwargs = (
                {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
            )
            rdb = _rdb_storage(
                storage,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=retry,
            )
            return rdb, None
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    if heartbeat_interval is None:
        return journal, None
    return journal, _JournalHeartbeat(journal, heartbeat_interval, grace_period, retry)


def _rdb_storage(url, **kwargs):
    """``RDBStorage(url, **kwargs)``, tolerating workers that create the same database at once.

    Two workers starting together on a new database both try to create its tables and
    version rows; the slower one fails with an integrity or "already exists" error, and
    succeeds when it tries again, since the tables are there by then.

    Parameters
    ----------
    url : str
        The database URL.
    **kwargs
        Passed to ``optuna.storages.RDBStorage``.

    Returns
    -------
    optuna.storages.RDBStorage

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        If the last of ``_CREATE_ATTEMPTS`` attempts fails too.
    """
    import sqlalchemy.exc

    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.1 * 2**attempt)


_CREATE_ATTEMPTS = 5
