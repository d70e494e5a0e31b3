"""The model of ``--model``: loading and checking it, and predicting the input files with it.

:func:`predictions` is the part that ``predict`` and ``plot`` share.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from .checks import warn_about_predictions
from .files import input_files, read_structures
from .report import Reporter, UsageError, describe

DEFAULT_FREQUENCY_UNIT = "cm^-1"
"""The unit of a stated grid without ``--frequency-unit``: that of the phonon data set."""


def load(path, device: str | None, cache=None, scratch=None):
    """The regressor saved at ``path`` (or a potential's zero-shot one).

    A potential's phonons go to ``cache`` (``--cache``), else to ``scratch`` (a folder that
    lasts the command: the warnings read the phonons the prediction computed).

    Parameters
    ----------
    path : str or path-like
        A model file, the name of a pretrained model, or of a universal potential
        (a file of that name wins).
    device : str or None
        Torch device of the model (None: the CPU for a potential, the file's own rule
        for a model file).
    cache : str, path-like or None, optional
        ``--cache``: a folder or priors ``.npz`` file keeping a potential's phonons.
    scratch : str or None, optional
        A folder for the phonons computed in this run.

    Returns
    -------
    GraphDOSRegressor or PotentialPhononRegressor

    Raises
    ------
    UsageError
        If the file is missing or invalid, or holds a model that predicts from feature
        vectors.
    """
    from ..estimators import GraphDOSRegressor
    from ..estimators.prior import rehome_prior
    from ..model_files import load_model
    from ..phonons import POTENTIALS
    from ..pretrained import PRETRAINED, zero_shot
    from ..pretrained import path as pretrained_path

    if str(path) in POTENTIALS and not Path(path).is_file():
        return zero_shot(str(path), cache=_caches(cache, scratch), device=device or "cpu")
    if str(path) in PRETRAINED and not Path(path).is_file():
        try:
            path = pretrained_path(str(path))
        except FileNotFoundError as error:
            raise UsageError(str(error)) from None
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"model file {str(path)!r} not found (--model: a file written by save, a "
            f"pretrained model: {', '.join(PRETRAINED)}, or a universal potential for its "
            f"zero-shot phonon DOS: {', '.join(POTENTIALS)})."
        )
    try:
        model = load_model(path, device=device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not isinstance(model, GraphDOSRegressor):
        raise UsageError(
            f"{path} holds a {type(model).__name__}, which predicts from feature vectors; "
            "the command line predicts from structure files."
        )
    # Nothing of the model's may print to stdout, which can carry the CSV.
    model.set_params(verbose=0)
    # The fit's own cache may be a folder of another machine: only its priors files that
    # exist here are read, and nothing is written outside --cache and scratch.
    return rehome_prior(model, _caches(cache, scratch), device)


def _caches(cache, scratch) -> list:
    """``--cache`` (if given), then the scratch folder: new phonons are written to the
    first folder among them."""
    from ..estimators.prior import cache_locations

    return [*([] if cache is None else cache_locations(cache)), scratch]


def check_prior(model, potential) -> None:
    """``--prior``: the model must compute the prior of that potential.

    Parameters
    ----------
    model : estimator
        The loaded model.
    potential : str or None
        ``--prior`` (None: nothing to check).

    Raises
    ------
    UsageError
        If the model has no prior, or the prior of another potential.
    """
    prior = getattr(model, "prior_", None)
    if potential is None:
        return
    if prior is None:
        raise UsageError(
            f"--prior {potential}: this model was fitted without a prior; drop --prior, or "
            f"use --model {potential} for the potential's zero-shot DOS."
        )
    if prior.potential != potential:
        raise UsageError(
            f"--prior {potential}: this model's prior is {prior.potential!r}, not {potential!r}."
        )


def grid_of(model, frequencies, need_frequencies: bool):
    """The model's DOS grid, or the ``--frequencies`` one for a model fitted without one.

    Parameters
    ----------
    model : estimator
        The loaded model (its ``energies_``).
    frequencies : tuple of (float, float) or None
        ``--frequencies START,STOP``.
    need_frequencies : bool
        Whether the grid must be phonon frequencies (``--thermo``).

    Returns
    -------
    numpy.ndarray of shape (n_energies,)

    Raises
    ------
    UsageError
        If ``--frequencies`` is given for a model with a grid of its own, or frequencies
        are needed and the grid is the column index or starts below zero.
    """
    grid = np.asarray(model.energies_, dtype=float)
    is_index = np.array_equal(grid, np.arange(grid.size))
    if frequencies is not None:
        if not is_index:
            raise UsageError(
                f"--frequencies is for a model fitted without energies (its grid is then the "
                f"column index); this model's grid already runs from {grid[0]:g} to "
                f"{grid[-1]:g} ({grid.size} points)."
            )
        return np.linspace(frequencies[0], frequencies[1], grid.size)
    if need_frequencies and is_index:
        raise UsageError(
            f"--thermo needs the model's frequencies, but its grid is the column index "
            f"0..{grid.size - 1} (it was fitted without energies); give --frequencies "
            f"START,STOP for its {grid.size} points (the phonon set's: 0,1000)."
        )
    if need_frequencies and grid[0] < 0:
        raise UsageError(
            f"--thermo needs a phonon model, whose grid is frequencies >= 0; this model's "
            f"grid starts at {grid[0]:g} (an electron DOS?)."
        )
    return grid


def predict_each(model, names, structures, want_std: bool, report: Reporter):
    """``(names, structures, y_pred, y_std)`` of the structures the model accepts.

    All are predicted in one batch; if that fails, one at a time, and each structure the
    model refuses is reported by name. The model's own output goes to stderr.

    Parameters
    ----------
    model : estimator
    names : list of str
    structures : list of pymatgen.core.Structure
    want_std : bool
        Whether to predict the ensemble's spread too.
    report : Reporter

    Returns
    -------
    names : list of str
    structures : list of pymatgen.core.Structure
    y_pred : numpy.ndarray of shape (n_kept, n_energies)
    y_std : numpy.ndarray of shape (n_kept, n_energies) or None
        None unless ``want_std``.
    """

    def predict(batch):
        return model.predict(batch, return_std=True) if want_std else model.predict(batch)

    with contextlib.redirect_stdout(sys.stderr), report.warnings_of():
        try:
            result = predict(structures)
        # A structure the model refuses (an element outside its table, ...) fails the
        # whole batch; then each is predicted alone to name the culprits.
        except Exception:
            result = None
        if result is not None:
            pred, std = result if want_std else (result, None)
            return names, structures, pred, std
        kept, preds, stds = [], [], []
        for i, structure in enumerate(structures):
            try:
                result = predict([structure])
            except Exception as error:
                report.failed(names[i], f"the model cannot predict it ({describe(error)})")
                continue
            kept.append(i)
            preds.append(result[0] if want_std else result)
            stds.append(result[1] if want_std else None)
    if not kept:
        empty = np.empty((0, model.n_energies_))
        return [], [], empty, empty if want_std else None
    return (
        [names[i] for i in kept],
        [structures[i] for i in kept],
        np.vstack(preds),
        np.vstack(stds) if want_std else None,
    )


def predictions(args, report: Reporter, need_frequencies: bool):
    """Load the model, read the inputs, predict and warn: the shared part of predict and plot.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``predict`` or ``plot``.
    report : Reporter
    need_frequencies : bool
        Whether the grid must be phonon frequencies (``--thermo``).

    Returns
    -------
    grid : numpy.ndarray of shape (n_energies,)
    unit : str or None
        The grid's unit where the user stated it, else None.
    names : list of str
    structures : list of pymatgen.core.Structure
    y_pred : numpy.ndarray of shape (n_files, n_energies)
    y_std : numpy.ndarray of shape (n_files, n_energies) or None
        None for a model that is no ensemble.
    """
    with tempfile.TemporaryDirectory(prefix="dos-estimators-") as scratch:
        return _predictions_in(args, report, need_frequencies, scratch)


def _predictions_in(args, report: Reporter, need_frequencies: bool, scratch: str):
    model = load(args.model, args.device, args.cache, scratch)
    check_prior(model, args.prior)
    grid = grid_of(model, args.frequencies, need_frequencies)
    # The grid's unit is known only when the user states it (--thermo, --frequencies, or
    # --frequency-unit itself).
    stated = need_frequencies or args.frequencies is not None or args.frequency_unit
    unit = (args.frequency_unit or DEFAULT_FREQUENCY_UNIT) if stated else None
    names, structures = read_structures(input_files(args.paths, report), report)
    want_std = len(getattr(model, "nets_", ())) >= 2
    if structures:
        names, structures, pred, std = predict_each(model, names, structures, want_std, report)
    else:
        pred, std = np.empty((0, grid.size)), (np.empty((0, grid.size)) if want_std else None)
    warn_about_predictions(model, names, structures, pred, grid, report.warn)
    return grid, unit, names, structures, pred, std
