"""The out-of-distribution splitter by number of species (distinct elements) per crystal."""

from __future__ import annotations

import numpy as np

from .._validation import is_integer
from ..structures import check_structures, n_species
from ._base import _as_tuple, _found, _SingleSplit


def _check_counts(value, name: str) -> tuple[int, ...] | None:
    """Species counts given by a parameter, or ``None``.

    Parameters
    ----------
    value : int, sequence of int or None
        One species count or several.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    tuple of int or None
        ``None`` for ``None``.

    Raises
    ------
    ValueError
        If the counts are empty or not all integers of at least 1.
    """
    if value is None:
        return None
    counts = _as_tuple(value, name)
    if not counts or not all(is_integer(c) and c >= 1 for c in counts):
        raise ValueError(
            f"{name} must be a non-empty sequence of species counts (integers of at least 1), "
            f"got {value!r}."
        )
    return tuple(int(c) for c in counts)


class SpeciesCountSplit(_SingleSplit):
    """Out-of-distribution split by number of species (distinct elements) per crystal.

    The DOSTransformer paper (Table 2) trains on binary and ternary crystals and tests on
    unary, quaternary and quinary ones. Crystals whose count is in neither set are left out
    of both parts. On the phonon set the defaults give 1,313 training and 208 test crystals.

    Parameters
    ----------
    train_counts : sequence of int or None, default=(2, 3)
        Species counts of the training crystals; ``None`` means every count not in
        ``test_counts``.
    test_counts : sequence of int or None, default=(1, 4, 5)
        Species counts of the held-out crystals; ``None`` means every count not in
        ``train_counts``.

    Raises
    ------
    ValueError
        From :meth:`split`, if the counts are not positive integers, both are ``None`` or they
        overlap, or if either side would be empty (the message lists the counts found and how
        many crystals each has).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> lattice = Lattice.cubic(4.0)
    >>> X = [Structure(lattice, ["Cu"], [[0, 0, 0]]),
    ...      Structure(lattice, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ...      Structure(lattice, ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])]
    >>> [(train.tolist(), test.tolist()) for train, test in SpeciesCountSplit().split(X)]
    [([1, 2], [0])]
    """

    def __init__(self, train_counts=(2, 3), test_counts=(1, 4, 5)):
        self.train_counts = train_counts
        self.test_counts = test_counts

    def split(self, X, y=None, groups=None):
        """Yield the training and held-out indices once.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y, groups : object
            Ignored; present for the scikit-learn signature.

        Yields
        ------
        train, test : numpy.ndarray of int
            Sorted indices of the crystals with ``train_counts`` and with ``test_counts``
            species.
        """
        train_counts = _check_counts(self.train_counts, "train_counts")
        test_counts = _check_counts(self.test_counts, "test_counts")
        if train_counts is None and test_counts is None:
            raise ValueError("train_counts and test_counts cannot both be None.")
        if train_counts and test_counts and set(train_counts) & set(test_counts):
            raise ValueError(
                f"train_counts {list(train_counts)} and test_counts {list(test_counts)} share "
                f"{sorted(set(train_counts) & set(test_counts))}; a crystal can be on one side "
                "only."
            )
        counts = np.array([n_species(s) for s in check_structures(X)])
        if train_counts is None:
            train = ~np.isin(counts, test_counts)
            test = ~train
        else:
            train = np.isin(counts, train_counts)
            test = ~train if test_counts is None else np.isin(counts, test_counts)
        if not train.any() or not test.any():
            side = "training" if not train.any() else "test"
            raise ValueError(
                f"SpeciesCountSplit(train_counts={self.train_counts}, "
                f"test_counts={self.test_counts}) leaves the {side} part empty; species "
                f"counts found: {_found(counts)}."
            )
        yield np.flatnonzero(train), np.flatnonzero(test)
