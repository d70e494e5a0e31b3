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
    """Make ``scoring="dos_neg_mse"`` (and the other names) work in scikit-learn.

    scikit-learn resolves scorer names through a private registry, and checks
    ``scoring=`` strings against the names that registry held when each of its
    modules was imported. Adding ours to the registry covers modules imported
    later; for those already imported, the sets of allowed names are extended.
    """
    import sys

    try:
        from sklearn.metrics import _scorer
        from sklearn.utils._param_validation import StrOptions
    except ImportError:  # pragma: no cover - private layout of another version
        return
    registry = getattr(_scorer, "_SCORERS", None)
    if not isinstance(registry, dict):  # pragma: no cover
        return
    for name, scorer in SCORERS.items():
        registry.setdefault(name, scorer)
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("sklearn.") or module is None:
            continue
        for obj in list(vars(module).values()):
            target = getattr(obj, "__wrapped__", obj)
            constraints = getattr(target, "_skl_parameter_constraints", None)
            if constraints is None and isinstance(obj, type):
                constraints = obj.__dict__.get("_parameter_constraints")
            if not isinstance(constraints, dict):
                continue
            for options in constraints.values():
                for option in options if isinstance(options, list) else ():
                    names = option.options if isinstance(option, StrOptions) else ()
                    if "neg_mean_squared_error" in names:
                        option.options.update(SCORERS)


_register_scorers()
