"""Metrics for DOS predictions, in the DOSTransformer paper's convention and pooled.

Each row of ``y_true`` and ``y_pred`` is the DOS of one crystal on a common energy
grid. The DOSTransformer paper (Lee et al., NeurIPS 2023) and its released code
evaluate one crystal at a time (test batches of one) and average over crystals:

- R² is scikit-learn's ``r2_score`` of each crystal's spectrum, averaged over
  crystals (:func:`r2_per_crystal`);
- RMSE is the root of each crystal's mean squared error, averaged over crystals
  (:func:`rmse_per_crystal`);
- MSE and MAE are averages over crystals of per-crystal means, which for rows of
  equal length are the means over every crystal and energy (:func:`mse`, :func:`mae`).

The pooled variants treat every (crystal, energy) entry as one sample:
:func:`rmse` is the root of :func:`mse`, and :func:`r2_pooled` is ``r2_score`` of
the flattened arrays, whose mean is taken over every crystal and energy rather than
along each spectrum. They are not what the paper reports. Each metric has a scorer,
``dos_neg_mse_scorer`` and so on, also in :data:`SCORERS` under its ``dos_*`` name: pass the
object as ``scoring=`` to scikit-learn; the names work in this package's functions only.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from sklearn.metrics import make_scorer, r2_score

from ._probe import property_probe_score

__all__ = [
    "mse",
    "mae",
    "rmse",
    "rmse_per_crystal",
    "r2_pooled",
    "r2_per_crystal",
    "dos_report",
    "spread_error_correlation",
    "get_scorer",
    "SCORERS",
    "dos_r2_per_crystal_scorer",
    "dos_r2_pooled_scorer",
    "dos_neg_mse_scorer",
    "dos_neg_mae_scorer",
    "dos_neg_rmse_scorer",
    "dos_neg_rmse_per_crystal_scorer",
    "property_probe_score",
]


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred have different shapes: {y_true.shape} and {y_pred.shape}."
        )
    if y_true.size == 0:
        raise ValueError("y_true is empty.")
    return y_true, y_pred


def _check_rows(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_check_pair`, and a 2-D shape: one crystal per row."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    if y_true.ndim != 2:
        raise ValueError(
            f"y_true and y_pred must be 2-D, of shape (n_samples, n_energies); "
            f"got shape {y_true.shape}."
        )
    return y_true, y_pred


def mse(y_true, y_pred) -> float:
    """Mean squared error over all materials and energies.

    For rows of equal length this is also the mean over crystals of each
    crystal's MSE, as the paper computes it.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)

    Returns
    -------
    float
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error over all materials and energies.

    For rows of equal length this is also the mean over crystals of each
    crystal's MAE, as the paper computes it.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)

    Returns
    -------
    float
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true, y_pred) -> float:
    """Pooled RMSE: the root of :func:`mse` over every crystal and energy.

    Not the paper's RMSE, which is :func:`rmse_per_crystal`. By Jensen's
    inequality the pooled value is never below the per-crystal one.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)

    Returns
    -------
    float

    Examples
    --------
    >>> rmse([[0.0, 0.0], [0.0, 0.0]], [[3.0, 3.0], [0.0, 0.0]])  # sqrt((9 + 9) / 4)
    2.1213203435596424
    """
    return float(np.sqrt(mse(y_true, y_pred)))


def rmse_per_crystal(y_true, y_pred) -> float:
    """Mean over crystals of each crystal's RMSE (the paper's RMSE).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)
        One crystal per row.

    Returns
    -------
    float
        ``mean_i sqrt(mean_j (y_true[i, j] - y_pred[i, j]) ** 2)``.

    Raises
    ------
    ValueError
        If the shapes differ, are not 2-D, or the arrays are empty.

    See Also
    --------
    rmse : the pooled RMSE, root of the mean over every crystal and energy.

    Examples
    --------
    The first crystal's RMSE is 3, the second's 0; their mean is 1.5 (the pooled
    RMSE of the same arrays is sqrt(18 / 4) ≈ 2.12).

    >>> rmse_per_crystal([[0.0, 0.0], [0.0, 0.0]], [[3.0, 3.0], [0.0, 0.0]])
    1.5
    """
    y_true, y_pred = _check_rows(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((y_true - y_pred) ** 2, axis=1))))


def r2_pooled(y_true, y_pred) -> float:
    """Pooled R²: scikit-learn's ``r2_score`` of the flattened arrays.

    Every (crystal, energy) entry is one sample, so the total sum of squares is
    taken about the mean over all crystals and energies. This is not the paper's
    R², which is :func:`r2_per_crystal`; the two generally differ.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)

    Returns
    -------
    float

    See Also
    --------
    r2_per_crystal : the paper's R², averaged over crystals.

    Examples
    --------
    ``y_true`` flattened is [0, 1, 2, 3]: mean 1.5, total sum of squares 5. The
    residuals are [0, 0, 0, 2], sum of squares 4, so R² = 1 - 4 / 5.

    >>> round(r2_pooled([[0.0, 1.0], [2.0, 3.0]], [[0.0, 1.0], [2.0, 1.0]]), 12)
    0.2
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(r2_score(y_true.ravel(), y_pred.ravel()))


def r2_per_crystal(y_true, y_pred) -> float:
    """Mean over crystals of the R² of each crystal's spectrum (the paper's R²).

    For each row ``i``, ``r2_score(y_true[i], y_pred[i])`` with the energies as
    samples; the result is the unweighted mean over rows. This is what the
    DOSTransformer paper's code reports, evaluating one crystal per batch.

    A crystal whose true spectrum is constant (for example all zeros) has no
    variance, so its R² is undefined. scikit-learn's default ``force_finite=True``
    is kept, as the paper's code does: such a crystal scores 1.0 when predicted
    exactly and 0.0 otherwise, rather than NaN or -inf.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)
        One crystal per row; ``n_energies`` must be at least 2.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the shapes differ, are not 2-D, the arrays are empty, or there are
        fewer than 2 energies.

    See Also
    --------
    r2_pooled : R² of the flattened arrays.

    Examples
    --------
    Crystal 1: mean 0.5, total sum of squares 0.5, residual 0.5, so R² = 0.
    Crystal 2: mean 2.5, total sum of squares 0.5, residual 0, so R² = 1.
    Their mean is 0.5. Pooled, the total sum of squares about 1.5 is 5 and the
    residual 0.5, so :func:`r2_pooled` of the same arrays is 1 - 0.5 / 5 = 0.9.

    >>> r2_per_crystal([[0.0, 1.0], [2.0, 3.0]], [[0.5, 0.5], [2.0, 3.0]])
    0.5
    """
    y_true, y_pred = _check_rows(y_true, y_pred)
    if y_true.shape[1] < 2:
        raise ValueError(
            f"r2_per_crystal needs at least 2 energies per crystal, got {y_true.shape[1]}."
        )
    # Transposed, each crystal is one output of r2_score and its energies the samples.
    return float(np.mean(r2_score(y_true.T, y_pred.T, multioutput="raw_values")))


def dos_report(y_true, y_pred) -> dict[str, float]:
    """Every metric at once, in the paper's convention and pooled.

    The paper's convention (Lee et al., NeurIPS 2023, and its code) scores each
    crystal and averages over crystals: its R² is ``r2_per_crystal`` and its RMSE
    ``rmse_per_crystal``. Its MSE and MAE are ``mse`` and ``mae``: for rows of equal
    length the mean of per-crystal means is the mean over every entry, so they
    agree either way. ``rmse`` and ``r2_pooled`` pool every crystal and energy
    and are not comparable with the paper's numbers.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)
        One crystal per row, at least 2 energies.

    Returns
    -------
    dict
        ``mse``; ``mse_x10`` (10 × MSE, as the paper prints it); ``mae``;
        ``rmse`` (pooled); ``rmse_per_crystal`` (paper); ``r2_per_crystal``
        (paper); ``r2_pooled``.

    Examples
    --------
    >>> report = dos_report([[0.0, 1.0]], [[0.0, 0.5]])
    >>> report["mse_x10"], report["mae"]
    (1.25, 0.25)
    >>> report = dos_report([[0.0, 1.0], [2.0, 3.0]], [[0.5, 0.5], [2.0, 3.0]])
    >>> report["r2_per_crystal"], report["r2_pooled"]
    (0.5, 0.9)
    """
    value = mse(y_true, y_pred)
    return {
        "mse": value,
        "mse_x10": 10.0 * value,
        "mae": mae(y_true, y_pred),
        "rmse": float(np.sqrt(value)),
        "rmse_per_crystal": rmse_per_crystal(y_true, y_pred),
        "r2_per_crystal": r2_per_crystal(y_true, y_pred),
        "r2_pooled": r2_pooled(y_true, y_pred),
    }


def spread_error_correlation(y_true, y_pred, y_std) -> float:
    """How well an ensemble's spread ranks its errors: Spearman's ρ over crystals.

    Each crystal's error is its RMSE over the grid and its spread the mean over the
    grid of the members' standard deviation (``predict(X, return_std=True)``). ρ = 1:
    the crystals the ensemble is least sure of are exactly those it gets most wrong;
    ρ = 0: the spread says nothing about the error.

    Parameters
    ----------
    y_true, y_pred, y_std : array-like of shape (n_samples, n_energies)
        At least 2 crystals.

    Returns
    -------
    float
        NaN if every crystal has the same spread or the same error.

    Examples
    --------
    >>> y_true = [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]
    >>> y_pred = [[0.1, 1.0], [0.3, 1.0], [0.2, 1.0]]
    >>> y_std = [[0.05, 0.0], [0.2, 0.1], [0.1, 0.0]]
    >>> float(spread_error_correlation(y_true, y_pred, y_std))
    1.0
    """
    from scipy.stats import spearmanr

    y_true, y_pred = _check_rows(y_true, y_pred)
    y_std = np.asarray(y_std, dtype=float)
    if y_std.shape != y_true.shape:
        raise ValueError(f"y_std has shape {y_std.shape}; y_true and y_pred have {y_true.shape}.")
    if not (np.isfinite(y_std).all() and (y_std >= 0).all()):
        raise ValueError("y_std must hold finite, non-negative standard deviations.")
    if len(y_true) < 2:
        raise ValueError("spread_error_correlation needs at least 2 crystals.")
    errors = np.sqrt(np.mean((y_pred - y_true) ** 2, axis=1))
    spreads = y_std.mean(axis=1)
    if np.ptp(errors) == 0 or np.ptp(spreads) == 0:
        return float("nan")
    return float(spearmanr(spreads, errors).statistic)


dos_r2_per_crystal_scorer = make_scorer(r2_per_crystal)
dos_r2_pooled_scorer = make_scorer(r2_pooled)
dos_neg_mse_scorer = make_scorer(mse, greater_is_better=False)
dos_neg_mae_scorer = make_scorer(mae, greater_is_better=False)
dos_neg_rmse_scorer = make_scorer(rmse, greater_is_better=False)
dos_neg_rmse_per_crystal_scorer = make_scorer(rmse_per_crystal, greater_is_better=False)

SCORERS = MappingProxyType(
    {
        "dos_r2_per_crystal": dos_r2_per_crystal_scorer,
        "dos_r2_pooled": dos_r2_pooled_scorer,
        "dos_neg_mse": dos_neg_mse_scorer,
        "dos_neg_mae": dos_neg_mae_scorer,
        "dos_neg_rmse": dos_neg_rmse_scorer,
        "dos_neg_rmse_per_crystal": dos_neg_rmse_per_crystal_scorer,
    }
)
"""The package's scorers by name (read-only), as objects to pass as ``scoring=``.

scikit-learn's own functions (``cross_val_score``, ``GridSearchCV``, ...) take the objects,
``scoring=SCORERS["dos_neg_mse"]`` or ``scoring=dos_neg_mse_scorer``; the names
themselves are understood only by this package's functions, through :func:`get_scorer`.
"""


def get_scorer(scoring):
    """The scorer for ``scoring``: a name of :data:`SCORERS` or of scikit-learn, or a scorer.

    This is how the package's functions that take ``scoring=``, such as
    :func:`~dos_estimators.tuning.tune`, read it.

    Parameters
    ----------
    scoring : str or callable
        One of :data:`SCORERS` (``"dos_neg_mse"``, ...), any name that
        ``sklearn.metrics.get_scorer`` accepts (``"neg_mean_absolute_error"``, ...), or a
        scorer ``scoring(estimator, X, y)``, returned as it is.

    Returns
    -------
    callable
        ``scorer(estimator, X, y)``, greater is better.

    Raises
    ------
    ValueError
        If ``scoring`` is a name neither here nor in scikit-learn.

    Examples
    --------
    >>> get_scorer("dos_neg_mse") is SCORERS["dos_neg_mse"] is dos_neg_mse_scorer
    True
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> X, y = np.zeros((2, 1)), np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> model = DummyRegressor().fit(X, y)  # predicts the mean row [1, 2] for both
    >>> float(get_scorer("dos_neg_mae")(model, X, y)), float(get_scorer("r2")(model, X, y))
    (-1.0, 0.0)
    """
    if isinstance(scoring, str) and scoring in SCORERS:
        return SCORERS[scoring]
    from sklearn.metrics import get_scorer as sklearn_get_scorer

    return sklearn_get_scorer(scoring)
