"""Signs that a structure or a predicted DOS should not be trusted, with their thresholds.

Nothing here refuses anything: the command line (and a careful user) warn with these,
naming the file, while :func:`~dos_estimators.structures.as_structure` refuses only what
no model can read.
"""

from __future__ import annotations

import numpy as np

CLOSE_CONTACT = 0.6
"""Atoms closer than this, in Å, are suspect: shorter than any bond in a real crystal
(H–H, the shortest, is 0.74 Å), so the file is probably wrong (a site listed twice with
rounded coordinates, a unit mix-up)."""

TOP_EDGE_FRACTION = 0.2
"""A phonon DOS still above this fraction of its maximum at the grid's top edge is cut
off: the crystal has modes above the grid (diamond's reach 1,330 cm⁻¹ on a grid ending at
1,000), and C_V and S from the cut DOS are unreliable."""

IMAGINARY_FRACTION = 0.05
"""A universal potential's phonons with more than this share of imaginary modes describe
a structure that is unstable under that potential (or not at its minimum): the prior's
DOS misses those modes and is wrong there."""


def close_contacts(structure, distance: float = CLOSE_CONTACT) -> list[tuple[int, int, float]]:
    """Pairs of sites closer than ``distance`` Å, periodic images included.

    Returns
    -------
    list of (int, int, float)
        ``(i, j, d)`` with ``i <= j`` (``i == j``: a site and its own image), shortest first.
    """
    centres, neighbours, _, distances = structure.get_neighbor_list(distance)
    pairs = {
        (int(min(i, j)), int(max(i, j))): float(d)
        for i, j, d in zip(centres, neighbours, distances, strict=True)
    }
    return sorted(((i, j, d) for (i, j), d in pairs.items()), key=lambda pair: pair[2])


def isolated_sites(structure, cutoff: float) -> list[int]:
    """Indices of the sites with no neighbour within ``cutoff`` Å (images included).

    A graph network sees such an atom alone, as in vacuum: its prediction says nothing
    about the crystal.
    """
    centres, _, _, _ = structure.get_neighbor_list(cutoff)
    return sorted(set(range(len(structure))) - {int(i) for i in centres})


def top_edge_fraction(dos) -> np.ndarray:
    """The DOS at the grid's last point as a fraction of its maximum, per row.

    Parameters
    ----------
    dos : array-like of shape (n_samples, n_energies)

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
        0 for a DOS that is zero everywhere.
    """
    dos = np.atleast_2d(np.asarray(dos, dtype=float))
    peak = dos.max(axis=1)
    return np.divide(dos[:, -1], peak, out=np.zeros(len(dos)), where=peak > 0)
