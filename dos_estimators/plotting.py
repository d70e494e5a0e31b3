"""Figures of predicted and true DOS: one panel per crystal, parity, and error per energy.

Every function takes plain arrays and returns a matplotlib ``Figure`` built without
pyplot (no global figure list, no display needed, safe under the Agg backend).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .metrics import mae, mse, r2_pooled

__all__ = ["plot_dos", "plot_error_by_energy", "plot_parity", "plot_spread_calibration"]

MAX_PANELS = 12
"""Default number of crystals :func:`plot_dos` draws, one panel each."""

HEXBIN_ABOVE = 5000
"""Above this many (true, predicted) pairs, ``plot_parity(kind="auto")`` bins them."""

PANEL_SIZE = (3.2, 2.4)  # inches per panel of plot_dos

_AXIS_LABELS = {
    "cm^-1": "frequency (cm$^{-1}$)",
    "THz": "frequency (THz)",
    "meV": "energy (meV)",
}


def _axis_label(unit) -> str:
    """The x-axis label for an energy grid in ``unit`` (None: no unit)."""
    if unit is None:
        return "energy"
    return _AXIS_LABELS.get(unit, f"energy ({unit})")


def _finite_array(value, name: str) -> np.ndarray:
    """``value`` as a float array, with a ValueError naming ``name`` if it is not numeric."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array ({err}).") from None
    if not np.isfinite(array).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at index {index}).")
    return array


def _check_grid(energies) -> np.ndarray:
    grid = _finite_array(energies, "energies")
    if grid.ndim != 1 or grid.size < 1:
        raise ValueError(f"energies must be a 1-D array of the DOS grid, got shape {grid.shape}.")
    return grid


def _check_dos_rows(value, name: str, n_energies: int, shape=None) -> np.ndarray:
    """A DOS matrix of shape ``(n_samples, n_energies)``; a 1-D row is one crystal."""
    rows = _finite_array(value, name)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (n_samples, n_energies) or (n_energies,), "
            f"got shape {np.shape(value)}."
        )
    if shape is not None and rows.shape != shape:
        raise ValueError(
            f"{name} has shape {rows.shape} but y_pred has shape {shape}; they must match."
        )
    if rows.shape[1] != n_energies:
        raise ValueError(
            f"{name} has {rows.shape[1]} values per crystal but energies has {n_energies}."
        )
    return rows


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    true = _finite_array(y_true, "y_true")
    pred = _finite_array(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {true.shape} and {pred.shape}."
        )
    if true.size == 0:
        raise ValueError("y_true and y_pred are empty.")
    return true, pred


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _save(figure: Figure, path) -> Figure:
    if path is not None:
        figure.savefig(os.fspath(path), dpi=120)
    return figure


def plot_dos(
    energies,
    y_pred,
    y_true=None,
    y_std=None,
    labels=None,
    ncols=3,
    unit=None,
    path=None,
    max_panels=MAX_PANELS,
) -> Figure:
    """One panel per crystal: its predicted DOS, and the true DOS and ±std band if given.

    Parameters
    ----------
    energies : array-like of shape (n_energies,)
        The grid of the DOS columns (e.g. an estimator's ``energies_``).
    y_pred : array-like of shape (n_samples, n_energies) or (n_energies,)
        Predicted DOS, one crystal per row (a 1-D array is one crystal).
    y_true : array-like of the shape of ``y_pred``, optional
        True DOS, drawn as a second line.
    y_std : array-like of the shape of ``y_pred``, optional
        Non-negative standard deviation (e.g. ``predict(X, return_std=True)[1]``),
        drawn as a band from ``y_pred - y_std`` to ``y_pred + y_std``.
    labels : sequence of str of length n_samples, optional
        Panel titles (file names, material ids). Defaults to ``"crystal <i>"``.
    ncols : int, default=3
        Panels per row (fewer when there are fewer crystals).
    unit : str, optional
        Unit of ``energies`` for the x-axis label: ``"cm^-1"`` and ``"THz"`` read as
        frequencies, anything else as an energy (``"eV"``).
    path : str or os.PathLike, optional
        Also save the figure there; the format follows the suffix (``.png``, ``.pdf``).
    max_panels : int, default=12
        Draw only the first ``max_panels`` crystals; the figure title then says so.

    Returns
    -------
    matplotlib.figure.Figure
        ``min(n_samples, max_panels)`` axes, each with one line (two with
        ``y_true``). Not registered with pyplot: nothing to close.

    Raises
    ------
    ValueError
        If an array is not numeric, holds NaN or infinite values, or its shape does not
        match ``energies`` and ``y_pred``; if ``y_std`` is negative; if ``labels`` has
        another length; if ``ncols`` or ``max_panels`` is not a positive integer. The
        message names the argument.

    Examples
    --------
    >>> import numpy as np
    >>> energies = np.linspace(0, 1000, 51)
    >>> y_pred = np.random.default_rng(0).random((4, 51))
    >>> figure = plot_dos(energies, y_pred, y_true=y_pred ** 2, unit="cm^-1")
    >>> len(figure.axes), len(figure.axes[0].lines)
    (4, 2)
    """
    grid = _check_grid(energies)
    pred = _check_dos_rows(y_pred, "y_pred", grid.size)
    true = None if y_true is None else _check_dos_rows(y_true, "y_true", grid.size, pred.shape)
    std = None if y_std is None else _check_dos_rows(y_std, "y_std", grid.size, pred.shape)
    if std is not None and (std < 0).any():
        row, column = (int(i) for i in np.argwhere(std < 0)[0])
        raise ValueError(
            f"y_std must be non-negative; row {row} is {std[row, column]:g} at energy "
            f"index {column}."
        )
    n_samples = pred.shape[0]
    if labels is None:
        labels = [f"crystal {i}" for i in range(n_samples)]
    elif isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray)):
        raise ValueError(f"labels must be a sequence of {n_samples} strings, got {labels!r}.")
    elif len(labels) != n_samples:
        raise ValueError(f"labels has {len(labels)} entries but y_pred has {n_samples} crystals.")
    ncols = _positive_int(ncols, "ncols")
    max_panels = _positive_int(max_panels, "max_panels")

    n_panels = min(n_samples, max_panels)
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    figure = Figure(
        figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.3), layout="constrained"
    )
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    for ax in axes[n_panels:]:
        figure.delaxes(ax)
    for i, ax in enumerate(axes[:n_panels]):
        if std is not None:
            ax.fill_between(
                grid,
                np.clip(pred[i] - std[i], 0, None),
                pred[i] + std[i],
                color="C0",
                alpha=0.25,
                linewidth=0,
                label="± std",
            )
        if true is not None:
            ax.plot(grid, true[i], color="k", linewidth=1.2, label="true")
        ax.plot(grid, pred[i], color="C0", linewidth=1.2, label="predicted")
        ax.set_title(str(labels[i]), fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=8)
        if i % ncols == 0:
            ax.set_ylabel("DOS")
        if i >= n_panels - ncols:
            ax.set_xlabel(_axis_label(unit))
    if true is not None or std is not None:
        axes[0].legend(fontsize=7, frameon=False)
    if n_samples > n_panels:
        figure.suptitle(f"first {n_panels} of {n_samples} crystals", fontsize=10)
    return _save(figure, path)


def plot_parity(y_true, y_pred, path=None, kind="auto") -> Figure:
    """Every (true, predicted) DOS value against each other, with the diagonal.

    The title gives the MSE and the pooled R² (:func:`dos_estimators.metrics.r2_pooled`:
    every crystal and energy one sample; not the paper's per-crystal R²).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_energies)
        True and predicted DOS, any shape as long as both match.
    path : str or os.PathLike, optional
        Also save the figure there.
    kind : {"auto", "scatter", "hexbin"}, default="auto"
        ``"auto"`` draws points up to 5,000 values and a hexagonal histogram (log
        counts, with a colour bar) above.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (and a colour-bar axes for ``"hexbin"``) whose first line is the
        diagonal.

    Raises
    ------
    ValueError
        If the arrays are not numeric, hold NaN or infinite values, are empty or differ
        in shape, or ``kind`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> y_true = np.random.default_rng(0).random((4, 51))
    >>> figure = plot_parity(y_true, 0.9 * y_true)
    >>> figure.axes[0].get_title()
    'MSE = 0.00378, R² = 0.958'
    """
    true, pred = _check_pair(y_true, y_pred)
    if kind not in ("auto", "scatter", "hexbin"):
        raise ValueError(f"kind must be 'auto', 'scatter' or 'hexbin', got {kind!r}.")
    if kind == "auto":
        kind = "hexbin" if true.size > HEXBIN_ABOVE else "scatter"
    low = min(true.min(), pred.min())
    high = max(true.max(), pred.max())
    pad = 0.02 * (high - low) if high > low else 0.5

    figure = Figure(figsize=(4.6 if kind == "hexbin" else 4.0, 4.0), layout="constrained")
    ax = figure.subplots()
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="k", linewidth=0.8)
    if kind == "hexbin":
        bins = ax.hexbin(true.ravel(), pred.ravel(), gridsize=60, bins="log", mincnt=1)
        figure.colorbar(bins, ax=ax, label="values per bin")
    else:
        ax.scatter(true.ravel(), pred.ravel(), s=4, alpha=0.4, linewidths=0)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("true DOS")
    ax.set_ylabel("predicted DOS")
    ax.set_title(f"MSE = {mse(true, pred):.3g}, R² = {r2_pooled(true, pred):.3g}")
    return _save(figure, path)


def plot_spread_calibration(y_true, y_pred, y_std, path=None) -> Figure:
    """Each crystal's ensemble spread against its error, with Spearman's ρ in the title.

    Parameters
    ----------
    y_true, y_pred, y_std : array-like of shape (n_samples, n_energies)
        True DOS, the ensemble's mean and its standard deviation
        (``predict(X, return_std=True)``).
    path : str or os.PathLike, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: per crystal, the mean spread over the grid (x) and the RMSE (y).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y_true = rng.random((20, 51))
    >>> y_std = 0.1 * rng.random((20, 1)) * np.ones((1, 51))
    >>> figure = plot_spread_calibration(y_true, y_true + y_std, y_std)
    >>> figure.axes[0].get_title()
    'Spearman ρ = 1.00 over 20 crystals'
    """
    from .metrics import spread_error_correlation

    true, pred = _check_pair(y_true, y_pred)
    _, std = _check_pair(y_true, y_std)
    errors = np.sqrt(np.mean((pred - true) ** 2, axis=1))
    spreads = std.mean(axis=1)
    rho = spread_error_correlation(true, pred, std)
    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = figure.subplots()
    ax.scatter(spreads, errors, s=8, alpha=0.6, linewidths=0)
    ax.set_xlabel("ensemble spread (mean std over the grid)")
    ax.set_ylabel("error (RMSE over the grid)")
    ax.set_title(f"Spearman ρ = {rho:.2f} over {len(true)} crystals")
    return _save(figure, path)


def plot_error_by_energy(energies, y_true, y_pred, path=None, unit=None) -> Figure:
    """Mean squared and mean absolute error over crystals at each energy.

    Parameters
    ----------
    energies : array-like of shape (n_energies,)
    y_true, y_pred : array-like of shape (n_samples, n_energies)
    path : str or os.PathLike, optional
        Also save the figure there.
    unit : str, optional
        Unit of ``energies`` for the x-axis label (as in :func:`plot_dos`).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing the energy axis, MSE on top and MAE below, one line each;
        their titles give the overall MSE and MAE.

    Raises
    ------
    ValueError
        If an array is not numeric, holds NaN or infinite values, or the shapes do not
        match each other and ``energies``.

    Examples
    --------
    >>> import numpy as np
    >>> y_true = np.random.default_rng(0).random((4, 51))
    >>> figure = plot_error_by_energy(np.linspace(-5, 5, 51), y_true, 0.9 * y_true, unit="eV")
    >>> [len(ax.lines) for ax in figure.axes]
    [1, 1]
    """
    grid = _check_grid(energies)
    true, pred = _check_pair(y_true, y_pred)
    true = _check_dos_rows(true, "y_true", grid.size)
    pred = _check_dos_rows(pred, "y_pred", grid.size)
    residual = pred - true
    figure = Figure(figsize=(5.0, 4.4), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(grid, np.mean(residual**2, axis=0), color="C3")
    top.set_ylabel("MSE")
    top.set_title(f"MSE over all = {mse(true, pred):.3g}", fontsize=10)
    bottom.plot(grid, np.mean(np.abs(residual), axis=0), color="C0")
    bottom.set_ylabel("MAE")
    bottom.set_title(f"MAE over all = {mae(true, pred):.3g}", fontsize=10)
    bottom.set_xlabel(_axis_label(unit))
    for ax in (top, bottom):
        ax.set_ylim(bottom=0)
    return _save(figure, path)
