"""Splitting crystals into training, validation and test parts.

A seeded 80/10/10 split, and scikit-learn splitters (``cv=``) for element-balanced,
formula-grouped, crystal-system and species-count (out-of-distribution) held-out parts.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import BaseCrossValidator, GroupShuffleSplit, train_test_split
from sklearn.utils import check_random_state

from ._validation import is_integer
from .structures import (
    CRYSTAL_SYSTEMS,
    DEFAULT_SYMPREC,
    check_structures,
    crystal_systems,
    n_species,
)

__all__ = [
    "CrystalSystemSplit",
    "ElementBalancedSplit",
    "FormulaGroupSplit",
    "LeaveOneCrystalSystemOut",
    "SpeciesCountSplit",
    "reduced_formulas",
    "train_valid_test_split",
]


def train_valid_test_split(X, y, valid_size=0.1, test_size=0.1, random_state=None):
    """Seeded random split into training, validation and test parts (the paper's 80/10/10).

    Parameters
    ----------
    X : sequence
        Samples (e.g. a list of Structures).
    y : array-like of shape (n_samples, ...)
    valid_size, test_size : float, default=0.1
        Fractions of all samples.
    random_state : int, RandomState or None

    Returns
    -------
    X_train, X_valid, X_test, y_train, y_valid, y_test

    Examples
    --------
    >>> import numpy as np
    >>> parts = train_valid_test_split(list(range(10)), np.arange(10), random_state=0)
    >>> [len(p) for p in parts]
    [8, 1, 1, 8, 1, 1]
    """
    if not (0 < valid_size < 1 and 0 < test_size < 1 and valid_size + test_size < 1):
        raise ValueError(
            f"valid_size and test_size must be in (0, 1) and sum below 1, got {valid_size} "
            f"and {test_size}."
        )
    n_samples = len(X)
    # Whole counts from the total, so that sizes are fractions of all samples
    # (test rounded up as scikit-learn does, validation to the nearest sample).
    n_test = math.ceil(round(test_size * n_samples, 9))
    n_valid = round(valid_size * n_samples)
    if n_test < 1 or n_valid < 1 or n_samples - n_test - n_valid < 1:
        raise ValueError(
            f"{n_samples} samples cannot be split into training, validation ({valid_size}) "
            f"and test ({test_size}) parts that are all non-empty."
        )
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, random_state=random_state
    )
    X_train, X_valid, y_train, y_valid = train_test_split(
        X_rest, y_rest, test_size=n_valid, random_state=random_state
    )
    return X_train, X_valid, X_test, y_train, y_valid, y_test


# -- splitters ------------------------------------------------------------------------------


def _as_tuple(value, name: str) -> tuple:
    """A parameter that may be given as one item or as a sequence of items."""
    if isinstance(value, (str, int, np.integer)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence, got {value!r}.") from None


def _check_systems(value, name: str) -> tuple[str, ...]:
    systems = _as_tuple(value, name)
    if not systems:
        raise ValueError(f"{name} must name at least one crystal system, got {value!r}.")
    unknown = [s for s in systems if s not in CRYSTAL_SYSTEMS]
    if unknown:
        raise ValueError(
            f"{name} has unknown crystal systems {unknown}; choose from {list(CRYSTAL_SYSTEMS)}."
        )
    return systems


def _check_counts(value, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    counts = _as_tuple(value, name)
    if not counts or not all(is_integer(c) and c >= 1 for c in counts):
        raise ValueError(
            f"{name} must be a non-empty sequence of species counts (integers of at least 1), "
            f"got {value!r}."
        )
    return tuple(int(c) for c in counts)


def _found(labels) -> str:
    """``'cubic (3), hexagonal (1)'``: the labels present and how often, for error messages."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return ", ".join(f"{v} ({c})" for v, c in zip(values.tolist(), counts.tolist(), strict=True))


def _systems_of(X, symprec: float, n_jobs: int | None) -> np.ndarray:
    return np.asarray(crystal_systems(check_structures(X), symprec=symprec, n_jobs=n_jobs))


def _check_symprec(symprec) -> float:
    if not (isinstance(symprec, (int, float, np.floating)) and symprec > 0):
        raise ValueError(f"symprec must be a positive distance in Å, got {symprec!r}.")
    return float(symprec)


class _RepeatedSplit(BaseCrossValidator):
    """A splitter that draws ``n_splits`` random folds."""

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for the scikit-learn signature.

        Returns
        -------
        int
        """
        return self.n_splits


class ElementBalancedSplit(_RepeatedSplit):
    """Random held-out parts in which every element keeps its share and is seen in training.

    Each split holds out ``test_size`` of the crystals such that

    1. no held-out crystal contains an element that no training crystal contains, and
    2. each element is held out in proportion: of the ``c_e`` crystals containing element
       ``e``, about ``test_size * c_e`` are held out.

    This is the intent of the element-balanced split of the e3nn phonon tutorial (which splits
    the crystals of each element separately and merges the parts, favouring training). Here
    each split is built greedily:

    1. Every element ``e`` gets a quota of ``test_size * c_e`` held-out crystals. Elements are
       taken from the rarest to the most common; the crystals containing one are visited in a
       random order (``random_state``), and a crystal is held out if, for every element it
       contains, at least one other crystal with that element stays in training and the
       held-out count stays within the quota rounded to the nearest whole crystal. Rare
       elements go first so that their crystals are placed while the quotas of common
       elements (O, for one) still have room.
    2. If the quotas leave the part short of ``ceil(test_size * n_samples)`` crystals, crystals
       are added one at a time, still keeping every element in training, each time the one
       whose elements go least over their quotas (ties in the random order).
    3. Held-out crystals are then exchanged for training ones, one at a time, whenever the
       exchange keeps every element in training and lowers the sum over elements of the
       squared difference between the element's held-out share and ``test_size`` (at most
       10 passes over the held-out part; each pass costs about ``n_test * n_samples *
       n_elements`` operations).

    Elements found in fewer than ``0.5 / test_size`` crystals (fewer than 5 at 10 %) thus
    normally stay in training only. On the phonon set (1,521 crystals, 64 elements, 10 %) each
    split takes 0.1 s and holds out 153 crystals; the held-out share of each of the 50 elements
    found in at least 20 crystals is within 2 percentage points of 10 % (a plain random split
    of the same size misses by up to 7 to 16 points), and the held-out parts of different
    seeds overlap no more than random ones do.

    Parameters
    ----------
    n_splits : int, default=5
        Number of independent random splits (as ``ShuffleSplit``; held-out parts may overlap).
    test_size : float or int, default=0.1
        Fraction of the crystals (float in (0, 1)) or number of crystals (int) held out.
    random_state : int, RandomState or None, default=None
        Seeds the visiting order; an int gives the same splits on every call.

    Raises
    ------
    ValueError
        From :meth:`split`, if parameters are out of range, or if ``test_size`` crystals cannot
        be held out without leaving some element out of training (the message says how many
        can, and which elements occur in one crystal only).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> pairs = [("Na", "Cl"), ("K", "Cl"), ("Na", "Br"), ("K", "Br"), ("Na", "I"), ("K", "I")]
    >>> X = [Structure(Lattice.cubic(4.0), pair, [[0, 0, 0], [0.5, 0.5, 0.5]]) for pair in pairs]
    >>> cv = ElementBalancedSplit(n_splits=2, test_size=2, random_state=0)
    >>> [(train.tolist(), test.tolist()) for train, test in cv.split(X)]
    [([0, 3, 4, 5], [1, 2]), ([1, 2, 4, 5], [0, 3])]
    """

    def __init__(self, n_splits=5, test_size=0.1, random_state=None):
        self.n_splits = n_splits
        self.test_size = test_size
        self.random_state = random_state

    def _n_test(self, n_samples: int) -> int:
        size = self.test_size
        if is_integer(size):
            if not 1 <= size < n_samples:
                raise ValueError(
                    f"test_size={size} crystals must be at least 1 and below the {n_samples} "
                    "crystals given."
                )
            return int(size)
        if not (isinstance(size, (float, np.floating)) and 0 < size < 1):
            raise ValueError(
                f"test_size must be a fraction in (0, 1) or a number of crystals, got {size!r}."
            )
        n_test = math.ceil(round(size * n_samples, 9))
        if n_test >= n_samples:
            raise ValueError(
                f"test_size={size} of {n_samples} crystals leaves no crystal for training."
            )
        return n_test

    def split(self, X, y=None, groups=None):
        """Yield training and held-out indices, ``n_splits`` times.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y, groups : object
            Ignored; present for the scikit-learn signature.

        Yields
        ------
        train : numpy.ndarray of int
            Sorted indices of the training crystals.
        test : numpy.ndarray of int
            Sorted indices of the held-out crystals.
        """
        if not (is_integer(self.n_splits) and self.n_splits >= 1):
            raise ValueError(f"n_splits must be an integer of at least 1, got {self.n_splits!r}.")
        structures = check_structures(X)
        n_samples = len(structures)
        n_test = self._n_test(n_samples)
        elements = sorted({el.symbol for s in structures for el in s.composition.elements})
        column = {symbol: j for j, symbol in enumerate(elements)}
        # contains[i, j]: crystal i contains element j.
        contains = np.zeros((n_samples, len(elements)), dtype=bool)
        for i, structure in enumerate(structures):
            contains[i, [column[el.symbol] for el in structure.composition.elements]] = True
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            held_out = _element_balanced_held_out(contains, n_test, rng, elements)
            yield np.flatnonzero(~held_out), np.flatnonzero(held_out)


def _element_balanced_held_out(contains, n_test, rng, elements) -> np.ndarray:
    """Boolean mask of held-out crystals; see :class:`ElementBalancedSplit`."""
    n_samples = contains.shape[0]
    crystals_per_element = contains.sum(axis=0)
    quota = crystals_per_element * (n_test / n_samples)
    held = np.zeros(len(elements), dtype=int)
    held_out = np.zeros(n_samples, dtype=bool)
    order = rng.permutation(n_samples)
    n_held = 0

    def keeps_training(i):
        row = contains[i]
        return bool(np.all(crystals_per_element[row] - held[row] >= 2))

    # Rarest elements first, while the common ones still have room in their quotas.
    for j in np.argsort(crystals_per_element, kind="stable"):
        for i in order[contains[order, j]]:
            if n_held == n_test or held[j] + 1 > quota[j] + 0.5:
                break
            row = contains[i]
            if not held_out[i] and keeps_training(i) and np.all(held[row] + 1 <= quota[row] + 0.5):
                held_out[i] = True
                held[row] += 1
                n_held += 1

    while n_held < n_test:
        candidates = [i for i in order if not held_out[i] and keeps_training(i)]
        if not candidates:
            singles = [elements[j] for j in np.flatnonzero(crystals_per_element == 1)]
            raise ValueError(
                f"Only {n_held} of the {n_test} requested crystals can be held out without "
                "leaving an element out of training; lower test_size. "
                + (f"Elements found in one crystal only: {singles}." if singles else "")
            )
        over = np.where(contains[candidates], (held + 1 - quota)[None, :], -np.inf).max(axis=1)
        i = candidates[int(np.argmin(over))]
        held_out[i] = True
        held[contains[i]] += 1
        n_held += 1

    # Exchange a held-out crystal for a training one while that brings the held-out shares
    # of the elements closer to test_size: the sum over elements of the squared error of
    # (held-out crystals with e) / (crystals with e) falls with every exchange.
    weight = 1.0 / crystals_per_element.astype(float) ** 2
    for _ in range(_MAX_EXCHANGE_PASSES):
        exchanged = False
        for i in rng.permutation(np.flatnonzero(held_out)):
            error = held - quota
            held_without = held - contains[i]
            error_without = error - contains[i]
            removal = weight @ (error_without**2 - error**2)
            # Adding crystal k changes the error of each of its elements e by
            # weight_e * ((error_e + 1)**2 - error_e**2).
            addition = contains @ (weight * (2 * error_without + 1))
            stays_seen = crystals_per_element - held_without >= 2
            allowed = ~held_out & np.all(stays_seen[None, :] | ~contains, axis=1)
            allowed[i] = False
            change = np.where(allowed, removal + addition, np.inf)[order]
            best = int(np.argmin(change))
            if change[best] < -1e-12:
                k = order[best]
                held_out[i], held_out[k] = False, True
                held = held_without + contains[k]
                exchanged = True
        if not exchanged:
            break
    return held_out


_MAX_EXCHANGE_PASSES = 10


class _SingleSplit(BaseCrossValidator):
    """A splitter with one fold, its parts set by what the crystals are."""

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: always 1.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for the scikit-learn signature.

        Returns
        -------
        int
        """
        return 1


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
        if not (is_integer(self.n_splits) and self.n_splits >= 1):
            raise ValueError(f"n_splits must be an integer of at least 1, got {self.n_splits!r}.")
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
