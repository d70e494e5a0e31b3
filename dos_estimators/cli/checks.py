"""What the command line warns about after a prediction, each warning naming its file.

The thresholds are those of :mod:`dos_estimators.diagnostics`; nothing here refuses an
input (the exit status stays that of the prediction).
"""

from __future__ import annotations

import numpy as np

from ..diagnostics import (
    CLOSE_CONTACT,
    IMAGINARY_FRACTION,
    TOP_EDGE_FRACTION,
    close_contacts,
    isolated_sites,
    top_edge_fraction,
)

__all__ = ["ABOVE_GRID_FRACTION", "warn_about_predictions", "warn_about_structure"]

ABOVE_GRID_FRACTION = 0.01
"""The zero-shot DOS reports modes above its grid once they hold more than 1 % of them."""


def _sites(indices) -> str:
    shown = ", ".join(str(i) for i in indices[:5])
    return shown + (f" and {len(indices) - 5} more" if len(indices) > 5 else "")


def warn_about_structure(name, structure, cutoff: float, warn) -> None:
    """Close contacts and atoms without a neighbour within ``cutoff`` Å.

    Parameters
    ----------
    name : str
        The file the structure was read from, named in each warning.
    structure : pymatgen.core.Structure
    cutoff : float
        The model's neighbour cutoff in Å.
    warn : callable
        Called as ``warn(name, message)`` for each warning.
    """
    contacts = close_contacts(structure)
    if contacts:
        i, j, d = contacts[0]
        what = f"site {i} and its own periodic image" if i == j else f"sites {i} and {j}"
        warn(
            name,
            f"{what} are {d:.2f} Å apart, closer than {CLOSE_CONTACT} Å (shorter than any "
            f"bond in a real crystal; {len(contacts)} such pair(s)): check the file.",
        )
    lonely = isolated_sites(structure, cutoff)
    if lonely:
        warn(
            name,
            f"site(s) {_sites(lonely)} have no neighbour within {cutoff:g} Å: the model sees "
            "them as isolated atoms, and its DOS says nothing about this crystal.",
        )


def warn_about_predictions(model, names, structures, pred, grid, warn) -> None:
    """Every warning of :mod:`dos_estimators.cli.checks` for a prediction's files.

    Parameters
    ----------
    model : estimator
        The model that predicted (its ``cutoff``, and the phonons of a zero-shot model or
        of a model's prior).
    names : list of str
        The files, named in each warning.
    structures : list of pymatgen.core.Structure
        Their structures.
    pred : numpy.ndarray of shape (n_files, n_energies)
        The predicted DOS.
    grid : numpy.ndarray of shape (n_energies,)
        The grid of ``pred``.
    warn : callable
        Called as ``warn(name, message)`` for each warning.
    """
    cutoff = float(getattr(model, "cutoff", 5.0))
    for name, structure in zip(names, structures, strict=True):
        warn_about_structure(name, structure, cutoff, warn)
    for name, fraction in zip(names, top_edge_fraction(pred), strict=True):
        if fraction > TOP_EDGE_FRACTION:
            warn(
                name,
                f"the predicted DOS is still {fraction:.2f} of its maximum at the grid's top "
                f"edge ({grid[-1]:g}), above {TOP_EDGE_FRACTION} of it: the crystal has modes "
                "above the grid, and C_V, S and F from this DOS are unreliable.",
            )
    phonons = getattr(model, "phonons_", None) or getattr(model, "prior_", None)
    if phonons is None or not structures:
        return
    zero_shot = getattr(model, "phonons_", None) is not None
    for name, modes in zip(names, phonons.modes(structures), strict=True):
        if modes.imaginary_fraction > IMAGINARY_FRACTION:
            warn(
                name,
                f"{modes.imaginary_fraction:.0%} of the modes of {phonons.potential!r} are "
                f"imaginary (above {IMAGINARY_FRACTION:.0%}): the structure is unstable under "
                "the potential or not at its minimum, and its phonon DOS "
                + ("is wrong there." if zero_shot else "(the model's prior) is wrong there."),
            )
        above = modes.fraction_above(float(grid[-1]), phonons.smearing()[1])
        if zero_shot and above > ABOVE_GRID_FRACTION:
            top = float(np.max(modes.frequencies[modes.weights > 0]) * phonons.smearing()[1])
            warn(
                name,
                f"{above:.0%} of its modes lie above the grid's top ({grid[-1]:g} cm^-1), up to "
                f"{top:.0f} cm^-1; the DOS on the grid leaves them out (predict on a wider "
                "grid with PotentialPhononRegressor.predict(X, energies=...)).",
            )
