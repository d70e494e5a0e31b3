"""Metrics for DOS predictions in the convention of the DOSTransformer paper.

Errors are averaged over every material and energy (per sample, not per batch);
R² is scikit-learn's ``r2_score`` on the flattened arrays. Scorers are
registered under ``dos_*`` names usable as ``scoring=`` in scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import make_scorer, r2_score

__all__ = ["mse", "mae", "rmse", "r2", "dos_report", "get_scorer", "SCORERS"]


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


def mse(y_true, y_pred) -> float:
    """Mean squared error over all materials and energies.

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
    """Mean absolute error over all materials and energies."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true, y_pred) -> float:
    """Root of :func:`mse`."""
    return float(np.sqrt(mse(y_true, y_pred)))


def r2(y_true, y_pred) -> float:
    """R² of the flattened arrays (the paper's convention).

    Examples
    --------
    >>> r2([[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]])
    1.0
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(r2_score(y_true.ravel(), y_pred.ravel()))


def dos_report(y_true, y_pred) -> dict[str, float]:
    """All paper metrics at once.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)

    Returns
    -------
    dict
        ``mse``, ``mse_x10`` (as the paper prints it), ``mae``, ``rmse``, ``r2``.

    Examples
    --------
    >>> report = dos_report([[0.0, 1.0]], [[0.0, 0.5]])
    >>> report["mse_x10"], report["mae"]
    (1.25, 0.25)
    """
    value = mse(y_true, y_pred)
    return {
        "mse": value,
        "mse_x10": 10.0 * value,
        "mae": mae(y_true, y_pred),
        "rmse": float(np.sqrt(value)),
        "r2": r2(y_true, y_pred),
    }


SCORERS = {
    "dos_r2": make_scorer(r2),
    "dos_neg_mse": make_scorer(mse, greater_is_better=False),
    "dos_neg_mae": make_scorer(mae, greater_is_better=False),
    "dos_neg_rmse": make_scorer(rmse, greater_is_better=False),
}
"""Scorer objects for ``scoring=``; also registered in scikit-learn by name."""


def get_scorer(name: str):
    """Return the scorer called ``name`` (one of :data:`SCORERS`, or any sklearn name)."""
    if name in SCORERS:
        return SCORERS[name]
    from sklearn.metrics import get_scorer as sklearn_get_scorer

    return sklearn_get_scorer(name)


def _register_scorers() -> None:
    # scikit-learn resolves ``scoring="name"`` through its private registry; adding
    # ours there lets ``cross_val_score(..., scoring="dos_neg_mse")`` work.
    try:
        from sklearn.metrics import _scorer
    except ImportError:  # pragma: no cover
        return
    registry = getattr(_scorer, "_SCORERS", None)
    if isinstance(registry, dict):
        for name, scorer in SCORERS.items():
            registry.setdefault(name, scorer)


_register_scorers()
