"""The search itself: :func:`tune`, step by step."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv

from .._validation import is_integer
from ..metrics import get_scorer
from ._objective import _Objective, _worker_name
from ._pruning import _pruning_mode
from ._result import TuningResult
from ._search_space import _check_distributions
from ._storage import _open_study

# Trial states that count towards n_trials; failed trials are retried or replaced.
_FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def tune(
    estimator,
    param_distributions,
    X,
    y,
    *,
    cv=5,
    groups=None,
    scoring=None,
    n_trials=20,
    timeout=None,
    storage=None,
    study_name=None,
    sampler=None,
    pruner=None,
    random_state=None,
    refit=True,
    catch=(),
    heartbeat_interval=60,
    grace_period=None,
    max_retry=3,
):
    """Search hyper-parameters with Optuna, cross-validating every trial.

    Each trial samples ``param_distributions``, fits a clone of ``estimator`` on the training
    part of every fold of ``cv`` and maximises the mean ``scoring`` on the held-out parts.
    The folds are drawn once per call, so every trial of a worker sees the same folds.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Any estimator, e.g. :class:`~dos_estimators.DOSTransformerRegressor`, a ``Pipeline``
        or a plain ``Ridge``.
    param_distributions : mapping of str to optuna.distributions.BaseDistribution
        Parameter names as ``estimator.set_params`` takes them (``lr``, ``hidden``,
        ``regressor__alpha``, ``module__...`` for a skorch net) to ``FloatDistribution``,
        ``IntDistribution`` or ``CategoricalDistribution``.
    X : sequence or array-like
        Samples, e.g. a list of Structures.
    y : array-like of shape (n_samples, ...)
        Targets, e.g. one DOS per row.
    cv : int, cross-validation splitter or iterable, default=5
        An int gives ``KFold`` without shuffling; any scikit-learn splitter works, including
        :class:`~dos_estimators.model_selection.ElementBalancedSplit` and the crystal-system
        and species-count splitters. Give random splitters a ``random_state`` when workers
        share a study, so that all trials use the same folds.
    groups : array-like of shape (n_samples,), optional
        Group labels for group splitters.
    scoring : str, callable or None, default=None
        ``None`` uses ``estimator.score`` (pooled R² for the DOS regressors); a name may be
        one of the package's scorers (``"dos_neg_mse"``, ``"dos_r2_per_crystal"``, ...) or
        any scikit-learn scorer name; a callable is ``scorer(estimator, X, y)``, such as
        ``dos_estimators.metrics.SCORERS["dos_neg_mse"]``.
    n_trials : int or None, default=20
        Target number of finished (complete or pruned) trials in the study, counted over all
        workers and earlier runs. This call runs at most the trials still missing and stops
        once the study has them all; concurrent workers may overshoot by one trial each.
        Failed trials do not count. ``None`` runs until ``timeout``.
    timeout : float, optional
        Seconds after which this call starts no new trial.
    storage : None, str, path-like or optuna.storages.BaseStorage, default=None
        Where the study lives. ``None``: in memory, for this call only. A URL such as
        ``"sqlite:///study.db"``, ``"postgresql://user:password@host/db"`` or
        ``"mysql+pymysql://user:password@host/db"``: an ``RDBStorage`` with the heartbeat
        below. Any other string or path: a journal file (``JournalFileBackend``), also with the
        heartbeat. A storage object is used as given.
    study_name : str, optional
        Name of the study in ``storage``; a study of that name is continued if it exists.
        Required with a persistent ``storage``, so that other workers and re-runs find it.
    sampler : optuna.samplers.BaseSampler, optional
        Defaults to a ``TPESampler`` seeded from ``random_state`` and the number of trials
        already in the study, so that a re-run continues rather than repeats its draws.
    pruner : optuna.pruners.BasePruner, optional
        Stops unpromising trials early. ``None`` (default) prunes nothing and reports nothing.
        With a pruner, an estimator that takes skorch ``callbacks`` (the package's regressors,
        skorch nets) gets a :class:`PruningCallback` that reports ``-valid_loss`` each epoch
        (steps as described there; the estimator needs a validation fraction, or a
        ``ValueError`` is raised). Any other estimator reports the mean score of the folds
        done so far after each fold (step = fold index), so pruning happens between folds.
    random_state : int, optional
        Seed of the default sampler. Workers sharing a study should get different seeds
        (or ``None``), or they propose the same first parameters.
    refit : bool, default=True
        Fit the best parameters on all of ``X`` and ``y`` as ``best_estimator_``.
    catch : tuple of exception types, default=()
        Exceptions that mark a trial failed and go on, instead of stopping the search. A
        trial whose mean score is NaN is marked failed too, and the search goes on.
    heartbeat_interval : int or None, default=60
        Seconds between heartbeats of a running trial, for the storages made here from a URL or
        path. A trial whose worker stops beating for ``grace_period`` seconds (killed,
        machine lost) is marked failed by the next worker that starts a trial, and re-queued
        with the same parameters up to ``max_retry`` times. ``None`` turns this off.
    grace_period : int, optional
        Seconds without heartbeat before a running trial counts as dead; defaults to
        ``2 * heartbeat_interval``. Must exceed the longest pause of a worker.
    max_retry : int or None, default=3
        Times a dead trial is re-queued (``None``: no limit).

    Returns
    -------
    TuningResult
        ``study_``, ``best_trial_``, ``best_params_``, ``best_score_``, ``best_estimator_``.

    Raises
    ------
    ValueError
        If a parameter name cannot be set on ``estimator``, a distribution is not an Optuna
        distribution, ``study_name`` is missing for a persistent storage, the stored study
        minimises, or no trial of the study completed.

    Examples
    --------
    >>> import numpy as np
    >>> from optuna.distributions import FloatDistribution
    >>> from sklearn.linear_model import Ridge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> y = X @ [1.0, 2.0, 0.0] + 0.1 * rng.normal(size=40)
    >>> result = tune(Ridge(), {"alpha": FloatDistribution(1e-3, 1e3, log=True)}, X, y,
    ...               cv=4, n_trials=5, random_state=0)
    >>> len(result.study_.trials), result.best_score_ > 0.9
    (5, True)
    >>> result.best_estimator_.predict(X[:2]).shape
    (2,)
    """
    # The arguments, checked before any study is opened.
    distributions = _check_distributions(estimator, param_distributions)
    _check_n_trials(n_trials)
    scorer = _check_scoring(estimator, scoring)
    splits = _cv_splits(cv, X, y, groups)
    study, journal_heartbeat = _open_study(
        storage,
        study_name,
        sampler=sampler,
        pruner=pruner,
        random_state=random_state,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
    )
    # One trial: the mean score over the folds of the parameters it samples.
    prune, epoch_pruning = _pruning_mode(estimator, pruner)
    objective = _Objective(
        estimator,
        distributions,
        X,
        y,
        splits,
        scorer,
        prune,
        epoch_pruning,
        _worker_name(),
        journal_heartbeat,
    )
    # The trials still missing, then the best parameters fitted on all the data.
    _run_trials(study, objective, n_trials, timeout, catch, journal_heartbeat)
    _check_a_trial_completed(study)
    best_estimator = None
    if refit:
        best_estimator = clone(estimator).set_params(**study.best_trial.params).fit(X, y)
    return TuningResult(study, scorer, best_estimator)


def _check_n_trials(n_trials) -> None:
    """Refuse an ``n_trials`` that is neither a positive integer nor ``None``.

    Parameters
    ----------
    n_trials : object
        ``tune``'s ``n_trials``.

    Raises
    ------
    ValueError
        If ``n_trials`` is not ``None`` and not an integer of at least 1.
    """
    if n_trials is not None and not (is_integer(n_trials) and n_trials >= 1):
        raise ValueError(f"n_trials must be a positive integer or None, got {n_trials!r}.")


def _check_scoring(estimator, scoring):
    """The scorer named or given by ``scoring``.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Whose ``score`` is the scorer when ``scoring`` is ``None``.
    scoring : str, callable or None
        A name of the package's scorers or of scikit-learn's, a callable, or ``None``.

    Returns
    -------
    callable
        ``scorer(estimator, X, y)``, greater is better.
    """
    if isinstance(scoring, str):
        return get_scorer(scoring)
    return check_scoring(estimator, scoring=scoring)


def _cv_splits(cv, X, y, groups) -> list:
    """The folds of ``cv``, drawn once so that every trial of this call sees the same.

    Parameters
    ----------
    cv : int, cross-validation splitter or iterable
        ``tune``'s ``cv``.
    X : sequence or array-like of length n_samples
    y : array-like of shape (n_samples, ...)
    groups : array-like of shape (n_samples,) or None

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        Training and held-out indices of each fold.

    Raises
    ------
    ValueError
        If ``cv`` gives no split.
    """
    splits = list(check_cv(cv, y).split(X, y, groups))
    if not splits:
        raise ValueError(f"cv={cv!r} gives no split.")
    return splits


def _run_trials(study, objective, n_trials, timeout, catch, journal_heartbeat) -> None:
    """Run the trials that ``study`` still misses to have ``n_trials`` finished ones.

    Parameters
    ----------
    study : optuna.Study
    objective : _Objective
    n_trials : int or None
        Finished (complete or pruned) trials wanted in the study; ``None``: until ``timeout``.
    timeout : float or None
        Seconds after which no new trial starts.
    catch : iterable of exception types
        Exceptions that fail a trial and go on.
    journal_heartbeat : _JournalHeartbeat or None
        Fails stale trials of a journal file after each trial.
    """
    finished = len(study.get_trials(deepcopy=False, states=_FINISHED_STATES))
    remaining = None if n_trials is None else n_trials - finished
    if remaining is not None and remaining <= 0:
        return
    callbacks = []
    if n_trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(n_trials, states=_FINISHED_STATES))
    if journal_heartbeat is not None:
        # After each trial, that is before the next is asked for, as optuna does for RDB.
        callbacks.append(journal_heartbeat.fail_stale_trials)
    study.optimize(
        objective, n_trials=remaining, timeout=timeout, catch=tuple(catch), callbacks=callbacks
    )


def _check_a_trial_completed(study) -> None:
    """Refuse a study in which no trial completed, as it has no best trial.

    Parameters
    ----------
    study : optuna.Study

    Raises
    ------
    ValueError
        If no trial of ``study`` is complete; the message counts the trials of each state.
    """
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        counts = {s.name.lower(): len(study.get_trials(states=(s,))) for s in TrialState}
        raise ValueError(f"No trial of study {study.study_name!r} completed: {counts}.")
