"""The search space of :func:`~dos_estimators.tuning.tune`: checking and sampling it."""

from __future__ import annotations

from collections.abc import Mapping

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import clone


def _check_distributions(estimator, param_distributions) -> dict:
    """``param_distributions`` as a dict, each name settable on the estimator.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The estimator to tune.
    param_distributions : mapping of str to optuna.distributions.BaseDistribution
        ``tune``'s ``param_distributions``.

    Returns
    -------
    dict of str to optuna.distributions.BaseDistribution

    Raises
    ------
    ValueError
        If ``param_distributions`` is not a non-empty mapping, holds anything but a
        ``FloatDistribution``, ``IntDistribution`` or ``CategoricalDistribution``, or names a
        parameter that a clone of ``estimator`` cannot set.
    """
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


def _representative(distribution):
    """A value of ``distribution``, to try setting its parameter.

    Parameters
    ----------
    distribution : FloatDistribution, IntDistribution or CategoricalDistribution

    Returns
    -------
    object
        The first choice of a categorical distribution, else the lower bound.
    """
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low


def _suggest(trial, name, distribution):
    """Sample parameter ``name`` from ``distribution`` in ``trial``.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The running trial.
    name : str
        The parameter's name, as ``estimator.set_params`` takes it.
    distribution : FloatDistribution, IntDistribution or CategoricalDistribution

    Returns
    -------
    float, int or object
        The value the trial's sampler chose.
    """
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    return trial.suggest_categorical(name, distribution.choices)
