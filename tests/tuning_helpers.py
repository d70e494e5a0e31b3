"""What the tests of :mod:`dos_estimators.tuning` share: a toy regression, a tiny DOS model.

The DOS regressor appears only in small tests on :func:`conftest.tiny_dataset`; searches
that run in several processes tune :class:`ToyRidge`, a closed-form ridge regression
whose ``fit`` can be slowed down or made to hang. The worker processes of
``test_tuning_storage.py`` import it from here.
"""

import contextlib
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from sklearn.base import BaseEstimator, RegressorMixin

from dos_estimators import DOSTransformerRegressor

ALPHA = FloatDistribution(1e-3, 1e3, log=True)
HEARTBEAT = {"heartbeat_interval": 1, "grace_period": 2}


class ToyRidge(RegressorMixin, BaseEstimator):
    """Closed-form ridge regression; ``delay`` slows ``fit``, ``hang_file`` makes it hang.

    With ``hang_file`` set, ``fit`` creates that file and then sleeps for ten minutes, so a
    test can kill the worker in the middle of a trial.
    """

    def __init__(self, alpha=1.0, delay=0.0, hang_file=None):
        self.alpha = alpha
        self.delay = delay
        self.hang_file = hang_file

    def fit(self, X, y):
        if self.hang_file is not None:
            Path(self.hang_file).touch()
            time.sleep(600)
        time.sleep(self.delay)
        X = np.asarray(X, dtype=float)
        gram = X.T @ X + self.alpha * np.eye(X.shape[1])
        self.coef_ = np.linalg.solve(gram, X.T @ np.asarray(y, dtype=float))
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float) @ self.coef_


def toy_problem(n_samples=40, n_outputs=None, seed=0):
    """A linear problem with a little noise; ``n_outputs`` gives a target matrix."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    weights = np.array([1.0, 2.0, 0.0]) if n_outputs is None else rng.normal(size=(3, n_outputs))
    y = X @ weights + 0.1 * rng.normal(size=(n_samples,) + weights.shape[1:])
    return X, y


def tiny_dos(**overrides):
    params = dict(
        hidden=8,
        n_heads=2,
        n_gnn_layers=1,
        n_cross_layers=1,
        n_self_layers=1,
        max_epochs=3,
        batch_size=4,
        random_state=0,
    )
    return DOSTransformerRegressor(**{**params, **overrides})


@contextlib.contextmanager
def optuna_warnings_only():
    """Optuna logs warnings only while the block runs (no line per trial)."""
    previous_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous_verbosity)


def states(study):
    return [t.state for t in study.get_trials(deepcopy=False)]
