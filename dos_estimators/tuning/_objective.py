"""One trial of :func:`~dos_estimators.tuning.tune`: the cross-validated score of its parameters."""

from __future__ import annotations

import os
import socket

import numpy as np
import optuna
from sklearn.base import clone

from ._pruning import PRUNING_CALLBACK_NAME, PruningCallback
from ._search_space import _suggest


class _Objective:
    """The objective of :func:`~dos_estimators.tuning.tune`: mean cross-validated score.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The estimator to tune; each fold fits a clone with the trial's parameters.
    distributions : dict of str to optuna.distributions.BaseDistribution
        The search space, checked.
    X : sequence or array-like of length n_samples
        Samples (Structures, rows of an array or of a DataFrame).
    y : array-like of shape (n_samples, ...)
        Targets.
    splits : list of (numpy.ndarray, numpy.ndarray)
        Training and held-out indices of each fold, drawn once for all trials.
    scorer : callable
        ``scorer(estimator, X, y)``, greater is better.
    prune : bool
        Whether the trial reports intermediate values (see ``_pruning_mode``).
    epoch_pruning : bool
        Whether it reports them per epoch (through a :class:`PruningCallback`) rather than
        per fold.
    worker : str
        ``host:pid`` of this process, stored in each trial's ``user_attrs``.
    journal_heartbeat : _JournalHeartbeat or None, default=None
        The heartbeat to beat while the trial runs, for a journal-file storage.
    """

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
        """The trial's mean score, with a heartbeat beating meanwhile if there is one.

        Parameters
        ----------
        trial : optuna.trial.Trial

        Returns
        -------
        float
        """
        if self.journal_heartbeat is None:
            return self._evaluate(trial)
        with self.journal_heartbeat.beating(trial):
            return self._evaluate(trial)

    def _evaluate(self, trial):
        """Sample the trial's parameters, fit and score every fold, record the scores.

        Parameters
        ----------
        trial : optuna.trial.Trial

        Returns
        -------
        float
            The mean score over the folds; NaN makes optuna record the trial as failed.

        Raises
        ------
        optuna.TrialPruned
            If the pruner stops the trial (after a fold, or inside a fit per epoch).
        """
        params = {name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}
        trial.set_user_attr("worker", self.worker)
        callback = PruningCallback(trial) if self.epoch_pruning else None
        scores = []
        for fold, (train, test) in enumerate(self.splits):
            model = clone(self.estimator).set_params(**params)
            if callback is not None:
                _add_pruning_callback(model, callback)
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


def _add_pruning_callback(model, callback) -> None:
    """Append ``callback`` to the skorch ``callbacks`` of ``model``, under its own name.

    Parameters
    ----------
    model : estimator
        A fresh clone that takes ``callbacks``; modified in place.
    callback : PruningCallback
        The trial's callback, added as ``(PRUNING_CALLBACK_NAME, callback)``.
    """
    existing = model.get_params(deep=False)["callbacks"]
    existing = list(existing) if isinstance(existing, (list, tuple)) else []
    model.set_params(callbacks=[*existing, (PRUNING_CALLBACK_NAME, callback)])


def _take(data, indices):
    """Rows ``indices`` of an array, a DataFrame or a list (of Structures, say).

    Parameters
    ----------
    data : numpy.ndarray, pandas.DataFrame, pandas.Series or sequence
        Of length ``n_samples``.
    indices : numpy.ndarray of int, shape (n_rows,)

    Returns
    -------
    numpy.ndarray, pandas object or list
        Of the kind of ``data``, with ``n_rows`` rows.
    """
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if hasattr(data, "shape"):
        return data[indices]
    return [data[i] for i in indices]


def _worker_name() -> str:
    """``host:pid`` of this process, to tell the workers of a shared study apart.

    Returns
    -------
    str
    """
    return f"{socket.gethostname()}:{os.getpid()}"
