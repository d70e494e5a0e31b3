"""Grouping by reduced formula: no composition on both sides of a split."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from ..structures import check_structures
from ._base import _check_n_splits, _RepeatedSplit


def reduced_formulas(X) -> np.ndarray:
    """The reduced formula of each crystal, as groups for scikit-learn's group splitters.

    Polymorphs (rutile and anatase TiO₂) share a reduced formula; a random split
    puts some on both sides, so that a model is tested on compositions it was
    trained on. ``GroupKFold().split(X, y, groups=reduced_formulas(X))`` keeps each
    formula on one side.

    Parameters
    ----------
    X : sequence of pymatgen.core.Structure or ase.Atoms

    Returns
    -------
    numpy.ndarray of shape (n_samples,), dtype object
        Strings such as ``"TiO2"``.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2)]
    >>> reduced_formulas(X).tolist()
    ['NaCl', 'NaCl']
    """
    structures = check_structures(X)
    return np.array([s.composition.reduced_formula for s in structures], dtype=object)


class FormulaGroupSplit(_RepeatedSplit):
    """Random held-out parts in which no reduced formula is on both sides.

    Like a seeded random split, but by formula: every crystal of a formula (its
    polymorphs) goes to the training or to the test part together, so that the
    test measures compositions the model has not seen. The groups come from the
    structures themselves (:func:`reduced_formulas`); ``groups`` is ignored.

    Parameters
    ----------
    n_splits : int, default=1
        Independent random splits.
    test_size : float, default=0.1
        Fraction of the formulas (not of the crystals) held out; with few
        polymorphs the two are close.
    random_state : int, RandomState or None, default=None
        Seeds the choice of held-out formulas; an int gives the same splits on every call.

    Raises
    ------
    ValueError
        From :meth:`split`, if ``n_splits`` is not a positive integer, ``test_size`` not a
        float in (0, 1), or ``X`` holds fewer than two reduced formulas.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> X = [Structure(Lattice.cubic(a), [e, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for e in ("Na", "K", "Rb", "Cs") for a in (3.0, 3.2)]
    >>> train, test = next(FormulaGroupSplit(test_size=0.25, random_state=0).split(X))
    >>> len(train), len(test)
    (6, 2)
    """

    def __init__(self, n_splits=1, test_size=0.1, random_state=None):
        self.n_splits = n_splits
        self.test_size = test_size
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Yield (train, test) index arrays, each formula on one side only.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y, groups : object
            Ignored.

        Yields
        ------
        train, test : numpy.ndarray of int
        """
        _check_n_splits(self.n_splits)
        if not (isinstance(self.test_size, float) and 0 < self.test_size < 1):
            raise ValueError(f"test_size must be a float in (0, 1), got {self.test_size!r}.")
        formulas = reduced_formulas(X)
        if len(set(formulas)) < 2:
            raise ValueError(
                "FormulaGroupSplit needs crystals of at least 2 reduced formulas, got "
                f"{len(set(formulas))}."
            )
        splitter = GroupShuffleSplit(
            n_splits=self.n_splits, test_size=self.test_size, random_state=self.random_state
        )
        yield from splitter.split(formulas, groups=formulas)
