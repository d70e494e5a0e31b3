"""Hyper-parameter search with Optuna for any scikit-learn estimator, DOS regressors included.

:func:`tune` cross-validates each trial, prunes bad trials per epoch through
:class:`PruningCallback`, and keeps its study in memory, in a database or in a journal file,
so that several workers can share it and a re-run continues it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Mapping

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from skorch.callbacks import Callback

from ._validation import is_integer
from .metrics import get_scorer

__all__ = ["PruningCallback", "TuningResult", "tune"]

# Trial states that count towards n_trials; failed trials are retried or replaced.
_FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)

PRUNING_CALLBACK_NAME = "optuna_pruning"
"""Name under which :func:`tune` adds its :class:`PruningCallback` to an estimator's callbacks."""


class PruningCallback(Callback):
    """skorch callback that reports each epoch's validation score to an Optuna trial.

    After every epoch it reports the last value of ``monitor`` from the net's history with
    ``trial.report`` and raises :class:`optuna.TrialPruned` when the study's pruner says
    ``trial.should_prune()``. The exception ends training and, inside
    :meth:`optuna.Study.optimize`, marks the trial pruned.

    One callback may serve several trainings in one trial: the cross-validation folds and the
    members of an ensemble (``n_ensemble``) are trained one after another. The ``k``-th
    training (counting from 0) reports epoch ``e`` (from 1) at step
    ``k * max_epochs + e - 1``, so trials with the same ``max_epochs``, folds and ensemble
    size compare the same network of the same fold at the same epoch, whatever early
    stopping did before.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The trial to report to.
    monitor : str, default="valid_loss"
        Key of the net's history to report (needs a validation split, e.g.
        ``validation_fraction > 0`` for the package's estimators).
    lower_is_better : bool, default=True
        Whether smaller values of ``monitor`` are better. The reported value is negated when
        this disagrees with the study's direction, so a study that maximises a score gets
        ``-valid_loss``.

    Attributes
    ----------
    n_trainings_ : int
        Trainings that have begun with this callback.

    Raises
    ------
    ValueError
        At an epoch's end, if the history does not hold ``monitor`` (the message lists the
        keys it holds).

    Examples
    --------
    In an objective of your own (:func:`tune` adds the callback itself):

    >>> import numpy as np
    >>> import optuna
    >>> from pymatgen.core import Lattice, Structure
    >>> from dos_estimators import DOSTransformerRegressor
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6, 3.8)]
    >>> y = np.random.default_rng(0).random((5, 51))
    >>> def objective(trial):
    ...     model = DOSTransformerRegressor(
    ...         hidden=8, n_heads=2, max_epochs=3, validation_fraction=0.4, random_state=0,
    ...         lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
    ...         callbacks=[PruningCallback(trial)])
    ...     return model.fit(X[:4], y[:4]).score(X[4:], y[4:])
    >>> study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    >>> study.optimize(objective, n_trials=2)
    >>> sorted(study.trials[0].intermediate_values)
    [0, 1, 2]
    """

    def __init__(self, trial, monitor="valid_loss", lower_is_better=True):
        self.trial = trial
        self.monitor = monitor
        self.lower_is_better = lower_is_better

    def on_train_begin(self, net, **kwargs):
        self.n_trainings_ = getattr(self, "n_trainings_", 0) + 1
        self._first_epoch = len(net.history)

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        if self.monitor not in last:
            raise ValueError(
                f"PruningCallback monitors {self.monitor!r}, which the net's history does not "
                f"record (it has {sorted(last)}); train with a validation split or choose "
                "another monitor."
            )
        value = float(last[self.monitor])
        maximize = self.trial.study.direction == optuna.study.StudyDirection.MAXIMIZE
        if maximize == self.lower_is_better:
            value = -value
        epoch = len(net.history) - getattr(self, "_first_epoch", 0)
        step = (getattr(self, "n_trainings_", 1) - 1) * net.max_epochs + epoch - 1
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at step {step} (training {self.n_trainings_}, epoch {epoch}) with "
                f"{self.monitor}={last[self.monitor]:.6g}"
            )

    def __getstate__(self):
        # A trial holds its study's storage (a database connection, say): not picklable and
        # of no use to a saved model.
        state = self.__dict__.copy()
        state["trial"] = None
        return state


class TuningResult:
    """What :func:`tune` found: the Optuna study, the best parameters and the refitted model.

    Attributes
    ----------
    study_ : optuna.Study
        The whole study, including trials run by other workers and earlier runs. Each trial's
        ``user_attrs`` hold ``fold_scores`` (one per cross-validation fold), ``std_score``
        and ``worker`` (``host:pid`` of the process that ran it).
    best_trial_ : optuna.trial.FrozenTrial
        The completed trial with the highest mean cross-validation score.
    best_params_ : dict
        Its parameters, ready for ``estimator.set_params(**best_params_)``.
    best_score_ : float
        Its mean cross-validation score (greater is better, as in scikit-learn).
    best_estimator_ : estimator or None
        A clone of the estimator with ``best_params_``, fitted on all of ``X`` and ``y``
        (``None`` with ``refit=False``).
    scorer_ : callable
        The scorer used, ``scorer_(estimator, X, y)``.
    """

    def __init__(self, study, scorer, best_estimator=None):
        self.study_ = study
        self.scorer_ = scorer
        self.best_trial_ = study.best_trial
        self.best_params_ = dict(self.best_trial_.params)
        self.best_score_ = float(self.best_trial_.value)
        self.best_estimator_ = best_estimator

    def _fitted(self):
        if self.best_estimator_ is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "tune(..., refit=False) fitted no best_estimator_; fit "
                "clone(estimator).set_params(**result.best_params_) yourself."
            )
        return self.best_estimator_

    def predict(self, X):
        """Predict with ``best_estimator_``.

        Parameters
        ----------
        X : input accepted by the estimator

        Returns
        -------
        numpy.ndarray
        """
        return self._fitted().predict(X)

    def score(self, X, y):
        """Score ``best_estimator_`` on ``(X, y)`` with the scorer used for tuning.

        Parameters
        ----------
        X : input accepted by the estimator
        y : array-like

        Returns
        -------
        float
        """
        return float(self.scorer_(self._fitted(), X, y))

    def __repr__(self):
        counts = {
            state.name.lower(): n
            for state in TrialState
            if (n := len(self.study_.get_trials(deepcopy=False, states=(state,))))
        }
        return (
            f"TuningResult(study={self.study_.study_name!r}, trials={counts}, "
            f"best_score_={self.best_score_:.6g}, best_params_={self.best_params_})"
        )


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
    distributions = _check_distributions(estimator, param_distributions)
    if n_trials is not None and not (is_integer(n_trials) and n_trials >= 1):
        raise ValueError(f"n_trials must be a positive integer or None, got {n_trials!r}.")
    scorer = _check_scoring(estimator, scoring)
    splits = list(check_cv(cv, y).split(X, y, groups))
    if not splits:
        raise ValueError(f"cv={cv!r} gives no split.")

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
        # Seeded from random_state and the trials already stored, so that a re-run
        # or a second worker does not repeat the first trials' draws.
        seed = None
        if random_state is not None:
            seed = int(
                np.random.SeedSequence([random_state, len(study.trials)]).generate_state(1)[0]
            )
        study.sampler = optuna.samplers.TPESampler(seed=seed)
    # Trials of workers that died since the last run are failed (and retried) now,
    # not only when this worker next asks for a trial.
    optuna.storages.fail_stale_trials(study)
    if journal_heartbeat is not None:
        journal_heartbeat.fail_stale_trials(study)

    prune = pruner is not None and not isinstance(pruner, optuna.pruners.NopPruner)
    params = estimator.get_params(deep=False)
    epoch_pruning = prune and "callbacks" in params
    if epoch_pruning and not params.get("validation_fraction", 1):
        raise ValueError(
            "Epoch-level pruning reports the validation loss, but the estimator has "
            f"validation_fraction={params['validation_fraction']!r}; give it a validation "
            "fraction or pass pruner=None."
        )
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

    finished = len(study.get_trials(deepcopy=False, states=_FINISHED_STATES))
    remaining = None if n_trials is None else n_trials - finished
    if remaining is None or remaining > 0:
        callbacks = []
        if n_trials is not None:
            callbacks.append(optuna.study.MaxTrialsCallback(n_trials, states=_FINISHED_STATES))
        if journal_heartbeat is not None:
            # After each trial, that is before the next is asked for, as optuna does for RDB.
            callbacks.append(journal_heartbeat.fail_stale_trials)
        study.optimize(
            objective, n_trials=remaining, timeout=timeout, catch=tuple(catch), callbacks=callbacks
        )

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        counts = {s.name.lower(): len(study.get_trials(states=(s,))) for s in TrialState}
        raise ValueError(f"No trial of study {study.study_name!r} completed: {counts}.")
    best_estimator = None
    if refit:
        best_estimator = clone(estimator).set_params(**study.best_trial.params).fit(X, y)
    return TuningResult(study, scorer, best_estimator)


class _Objective:
    """The objective of :func:`tune`: mean cross-validated score of a trial's parameters."""

    def __init__(
        self,
        estimator,
        distributions,
        X,
        y,
        splits,
        scorer,
        prune,
        epoch_pruning,
        worker,
        journal_heartbeat=None,
    ):
        self.estimator = estimator
        self.distributions = distributions
        self.X = X
        self.y = y
        self.splits = splits
        self.scorer = scorer
        self.prune = prune
        self.epoch_pruning = epoch_pruning
        self.worker = worker
        self.journal_heartbeat = journal_heartbeat

    def __call__(self, trial):
        if self.journal_heartbeat is None:
            return self._evaluate(trial)
        with self.journal_heartbeat.beating(trial):
            return self._evaluate(trial)

    def _evaluate(self, trial):
        params = {name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}
        trial.set_user_attr("worker", self.worker)
        callback = PruningCallback(trial) if self.epoch_pruning else None
        scores = []
        for fold, (train, test) in enumerate(self.splits):
            model = clone(self.estimator).set_params(**params)
            if callback is not None:
                existing = model.get_params(deep=False)["callbacks"]
                existing = list(existing) if isinstance(existing, (list, tuple)) else []
                model.set_params(callbacks=[*existing, (PRUNING_CALLBACK_NAME, callback)])
            model.fit(_take(self.X, train), _take(self.y, train))
            score = self.scorer(model, _take(self.X, test), _take(self.y, test))
            scores.append(float(score))
            if self.prune and not self.epoch_pruning:
                trial.report(float(np.mean(scores)), fold)
                if trial.should_prune():
                    trial.set_user_attr("fold_scores", scores)
                    raise optuna.TrialPruned(f"pruned after fold {fold} with scores {scores}")
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("std_score", float(np.std(scores)))
        # A NaN mean makes optuna record the trial as failed and go on.
        return float(np.mean(scores))


def _take(data, indices):
    """Rows ``indices`` of an array, a DataFrame or a list (of Structures, say)."""
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if hasattr(data, "shape"):
        return data[indices]
    return [data[i] for i in indices]


def _suggest(trial, name, distribution):
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    return trial.suggest_categorical(name, distribution.choices)


def _representative(distribution):
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low


def _check_distributions(estimator, param_distributions) -> dict:
    if not isinstance(param_distributions, Mapping) or not param_distributions:
        raise ValueError(
            "param_distributions must be a non-empty mapping of parameter names to optuna "
            f"distributions, got {param_distributions!r}."
        )
    supported = (FloatDistribution, IntDistribution, CategoricalDistribution)
    for name, distribution in param_distributions.items():
        if not isinstance(distribution, supported):
            kind = (
                "an unsupported optuna distribution"
                if isinstance(distribution, BaseDistribution)
                else "not an optuna distribution"
            )
            raise ValueError(
                f"param_distributions[{name!r}] is {kind} ({distribution!r}); use "
                "FloatDistribution, IntDistribution or CategoricalDistribution."
            )
        try:
            clone(estimator).set_params(**{name: _representative(distribution)})
        except ValueError as err:
            raise ValueError(
                f"param_distributions names {name!r}, which {type(estimator).__name__} cannot "
                f"set: {err}"
            ) from None
    return dict(param_distributions)


def _check_scoring(estimator, scoring):
    if isinstance(scoring, str):
        return get_scorer(scoring)
    return check_scoring(estimator, scoring=scoring)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _make_storage(storage, heartbeat_interval, grace_period, max_retry):
    """An optuna storage from ``tune``'s ``storage`` argument (see there).

    Returns
    -------
    storage : None or optuna.storages.BaseStorage
    journal_heartbeat : _JournalHeartbeat or None
        The heartbeat of a journal file made here; optuna beats that of an ``RDBStorage``.
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


_HEARTBEAT_ATTR = "dos_estimators:heartbeat"


class _JournalHeartbeat:
    """The heartbeat of running trials in a journal file, which optuna gives only to RDB.

    Optuna's own heartbeat protocol (``optuna.storages._heartbeat``) is private, so this one
    is built on the public storage API and run by :func:`tune` itself: while a trial's
    objective runs, :meth:`beating` writes the time into the trial's system attribute
    ``"dos_estimators:heartbeat"`` every ``interval`` seconds; :meth:`fail_stale_trials`,
    called before the first trial and after each one, fails the running trials whose last
    beat is older than ``grace_period`` and hands each to ``stale_trial_callback``
    (``RetryHeartbeatStaleTrialCallback`` re-queues it). A running trial without a beat
    (one run by plain optuna, say) is left alone. Workers sharing a journal file must share
    a clock (one machine, or machines kept in time by NTP).
    """

    def __init__(self, storage, interval, grace_period, stale_trial_callback):
        self.storage = storage
        self.interval = interval
        self.grace_period = grace_period or 2 * interval
        self.stale_trial_callback = stale_trial_callback

    def _trial_id(self, study, number):
        study_id = self.storage.get_study_id_from_name(study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def _beat(self, trial_id):
        try:
            self.storage.set_trial_system_attr(trial_id, _HEARTBEAT_ATTR, time.time())
        except UpdateFinishedTrialError:
            # Another worker declared this slow trial dead; its result will be refused.
            pass

    @contextlib.contextmanager
    def beating(self, trial):
        """Beat for ``trial`` (an ``optuna.trial.Trial``) while the block runs."""
        trial_id = self._trial_id(trial.study, trial.number)
        self._beat(trial_id)  # at once: a trial is judged only once it has beaten
        stop = threading.Event()

        def beat_until_stopped():
            while not stop.wait(self.interval):
                self._beat(trial_id)

        thread = threading.Thread(target=beat_until_stopped, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail_stale_trials(self, study, trial=None):
        """Fail, and hand to the callback, the running trials of ``study`` that stopped beating.

        ``trial`` is unused: the signature is that of a ``Study.optimize`` callback.
        """
        limit = time.time() - self.grace_period
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        failed = []
        for stale in running:
            if stale.system_attrs.get(_HEARTBEAT_ATTR, math.inf) >= limit:
                continue
            trial_id = self._trial_id(study, stale.number)
            try:
                if self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    failed.append(trial_id)
            except UpdateFinishedTrialError:
                pass  # another worker failed it first, or it just finished
        if self.stale_trial_callback is None:
            return
        for trial_id in failed:
            frozen = copy.deepcopy(self.storage.get_trial(trial_id))
            # A re-queued copy starts without the dead worker's last beat, which would make
            # it stale the moment it runs.
            frozen.system_attrs = {
                key: value for key, value in frozen.system_attrs.items() if key != _HEARTBEAT_ATTR
            }
            self.stale_trial_callback(study, frozen)
