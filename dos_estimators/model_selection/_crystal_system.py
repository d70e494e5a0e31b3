"""Out-of-distribution splitters by crystal system: one held-out part, or one fold each."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from ..structures import CRYSTAL_SYSTEMS, DEFAULT_SYMPREC, check_structures, crystal_systems
from ._base import _as_tuple, _found, _SingleSplit


def _check_systems(value, name: str) -> tuple[str, ...]:
    """Crystal systems named by a parameter, checked against ``CRYSTAL_SYSTEMS``.

    Parameters
    ----------
    value : str or sequence of str
        One crystal system or several.
    name : str
        The parameter's name, for error messages.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        If ``value`` names no system or a system not in
        :data:`~dos_estimators.structures.CRYSTAL_SYSTEMS`.
    """
    systems = _as_tuple(value, name)
    if not systems:
        raise ValueError(f"{name} must name at least one crystal system, got {value!r}.")
    unknown = [s for s in systems if s not in CRYSTAL_SYSTEMS]
    if unknown:
        raise ValueError(
            f"{name} has unknown crystal systems {unknown}; choose from {list(CRYSTAL_SYSTEMS)}."
        )
    return systems


def _systems_of(X, symprec: float, n_jobs: int | None) -> np.ndarray:
    """The crystal system of each crystal.

    Parameters
    ----------
    X : sequence of pymatgen.core.Structure or ase.Atoms
        The crystals, ``n_samples`` of them.
    symprec : float
        Symmetry tolerance (Å).
    n_jobs : int or None
        Processes for the crystal-system search of structures not seen before.

    Returns
    -------
    numpy.ndarray of str, shape (n_samples,)
        Names from :data:`~dos_estimators.structures.CRYSTAL_SYSTEMS`.
    """
    return np.asarray(crystal_systems(check_structures(X), symprec=symprec, n_jobs=n_jobs))


def _check_symprec(symprec) -> float:
    """A symmetry tolerance, checked.

    Parameters
    ----------
    symprec : object
        The splitter's ``symprec`` parameter.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``symprec`` is not a positive number.
    """
    if not (isinstance(symprec, (int, float, np.floating)) and symprec > 0):
        raise ValueError(f"symprec must be a positive distance in Å, got {symprec!r}.")
    return float(symprec)


class CrystalSystemSplit(_SingleSplit):
    """Out-of-distribution split by crystal system: one fold, chosen systems held out.

    The DOSTransformer paper (Table 2) trains on cubic, hexagonal, tetragonal, trigonal and
    orthorhombic crystals and tests on monoclinic and triclinic ones. On the phonon set
    (``symprec=0.1``) that holds out 159 of 1,521 crystals (160 in the paper: spglib
    calls RbSnCl3, a perovskite distorted by less than the tolerance, monoclinic, and
    moyopy, which finds the crystal systems here, tetragonal).

    Parameters
    ----------
    test_systems : sequence of str, default=("monoclinic", "triclinic")
        Crystal systems (from :data:`~dos_estimators.structures.CRYSTAL_SYSTEMS`) of the
        held-out crystals; every other crystal is for training.
    symprec : float, default=0.1
        Symmetry tolerance (Å) of the crystal-system search (moyopy, cached per structure).
    n_jobs : int, optional
        Processes for the crystal-system search of structures not seen before.

    Raises
    ------
    ValueError
        From :meth:`split`, if ``test_systems`` names an unknown system, or if either side
        would be empty (the message lists the systems found and how many crystals each has).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> sites = [[0, 0, 0], [0.5, 0.5, 0.5]]
    >>> X = [Structure(Lattice.cubic(4.0), ["Na", "Cl"], sites),
    ...      Structure(Lattice.monoclinic(4, 5, 6, 100), ["Na", "Cl"], sites),
    ...      Structure(Lattice.tetragonal(4.0, 6.0), ["K", "Cl"], sites)]
    >>> [(train.tolist(), test.tolist()) for train, test in CrystalSystemSplit().split(X)]
    [([0, 2], [1])]
    """

    def __init__(
        self, test_systems=("monoclinic", "triclinic"), symprec=DEFAULT_SYMPREC, n_jobs=None
    ):
        self.test_systems = test_systems
        self.symprec = symprec
        self.n_jobs = n_jobs

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
            Sorted indices of the crystals of the other systems, and of ``test_systems``.
        """
        test_systems = _check_systems(self.test_systems, "test_systems")
        systems = _systems_of(X, _check_symprec(self.symprec), self.n_jobs)
        held_out = np.isin(systems, test_systems)
        if held_out.all() or not held_out.any():
            side = "training" if held_out.all() else "test"
            raise ValueError(
                f"CrystalSystemSplit(test_systems={list(test_systems)}) leaves the {side} part "
                f"empty; crystal systems found: {_found(systems)}."
            )
        yield np.flatnonzero(~held_out), np.flatnonzero(held_out)


class LeaveOneCrystalSystemOut(BaseCrossValidator):
    """One fold per crystal system present: train on all others, test on that one.

    Folds come in the order of :data:`~dos_estimators.structures.CRYSTAL_SYSTEMS` (cubic,
    hexagonal, tetragonal, trigonal, orthorhombic, monoclinic, triclinic), skipping systems
    absent from ``X``.

    Parameters
    ----------
    symprec : float, default=0.1
        Symmetry tolerance (Å) of the crystal-system search (moyopy, cached per structure).
    n_jobs : int, optional
        Processes for the crystal-system search of structures not seen before.

    Raises
    ------
    ValueError
        From :meth:`split` and :meth:`get_n_splits`, if ``X`` holds fewer than two crystal
        systems (the message lists the systems found), or :meth:`get_n_splits` gets no ``X``.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> sites = [[0, 0, 0], [0.5, 0.5, 0.5]]
    >>> X = [Structure(Lattice.cubic(4.0), ["Na", "Cl"], sites),
    ...      Structure(Lattice.monoclinic(4, 5, 6, 100), ["Na", "Cl"], sites),
    ...      Structure(Lattice.cubic(4.2), ["K", "Cl"], sites)]
    >>> cv = LeaveOneCrystalSystemOut()
    >>> cv.get_n_splits(X)
    2
    >>> [(train.tolist(), test.tolist()) for train, test in cv.split(X)]
    [([1], [0, 2]), ([0, 2], [1])]
    """

    def __init__(self, symprec=DEFAULT_SYMPREC, n_jobs=None):
        self.symprec = symprec
        self.n_jobs = n_jobs

    def _present(self, X):
        """The crystal systems of ``X`` and those present, in the order of the folds.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
            The crystals, ``n_samples`` of them.

        Returns
        -------
        systems : numpy.ndarray of str, shape (n_samples,)
            The crystal system of each crystal.
        present : list of str
            The systems found, in the order of ``CRYSTAL_SYSTEMS``.

        Raises
        ------
        ValueError
            If fewer than two crystal systems are present.
        """
        systems = _systems_of(X, _check_symprec(self.symprec), self.n_jobs)
        present = [s for s in CRYSTAL_SYSTEMS if s in set(systems.tolist())]
        if len(present) < 2:
            raise ValueError(
                "LeaveOneCrystalSystemOut needs crystals of at least two crystal systems; "
                f"found: {_found(systems)}."
            )
        return systems, present

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of crystal systems present in ``X``.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
            Required.
        y, groups : object
            Ignored; present for the scikit-learn signature.

        Returns
        -------
        int
        """
        if X is None:
            raise ValueError("LeaveOneCrystalSystemOut.get_n_splits needs X to find its systems.")
        return len(self._present(X)[1])

    def split(self, X, y=None, groups=None):
        """Yield training and held-out indices, one pair per crystal system present.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y, groups : object
            Ignored; present for the scikit-learn signature.

        Yields
        ------
        train, test : numpy.ndarray of int
            Sorted indices of the crystals of the other systems, and of this fold's system.
        """
        systems, present = self._present(X)
        for system in present:
            held_out = systems == system
            yield np.flatnonzero(~held_out), np.flatnonzero(held_out)
