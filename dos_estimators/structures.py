"""Input checking and conversion for crystal structures.

Public estimators take pymatgen ``Structure`` or ASE ``Atoms``; this module turns
them into ordered ``Structure`` objects once, and derives crystal system and species count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from pymatgen.core import DummySpecies, Structure

CRYSTAL_SYSTEMS = (
    "cubic",
    "hexagonal",
    "tetragonal",
    "trigonal",
    "orthorhombic",
    "monoclinic",
    "triclinic",
)
"""The seven crystal systems, in the order used for prompt indices."""

DEFAULT_SYMPREC = 0.1

MIN_DISTANCE = 0.1
"""The smallest distance, in Å, allowed between two atoms and between lattice planes.

Closer atoms are refused as overlapping: a site listed twice, typically from the symmetry
expansion of a CIF whose coordinates on a special position are rounded. No real crystal
comes near it (the shortest bond, H–H, is 0.74 Å), and below the default symmetry tolerance
the crystal system cannot be found at all. A cell whose lattice planes are closer is
degenerate (a zero volume, for one), and would put each atom that close to its own images.
"""


def as_structure(obj, index: int | None = None) -> Structure:
    """Return ``obj`` as an ordered pymatgen ``Structure``.

    Parameters
    ----------
    obj : pymatgen.core.Structure or ase.Atoms
        The crystal. ASE ``Atoms`` must be periodic in three dimensions.
    index : int, optional
        Position of ``obj`` in the caller's input, used in error messages.

    Returns
    -------
    pymatgen.core.Structure

    Raises
    ------
    ValueError
        If ``obj`` is neither a Structure nor an Atoms, has no sites, is not
        periodic, has a degenerate cell (lattice planes closer than
        :data:`MIN_DISTANCE`, e.g. zero volume), NaN or infinite lattice or
        coordinates, a disordered (partially occupied) site or a dummy species,
        or two atoms closer than :data:`MIN_DISTANCE`. The message names the
        site(s).
    """
    where = "" if index is None else f"Sample {index}: "
    if isinstance(obj, Structure):
        structure = obj
    elif _is_ase_atoms(obj):
        if not all(obj.pbc):
            raise ValueError(
                f"{where}ASE Atoms must be periodic in all three directions, "
                f"got pbc={[bool(p) for p in obj.pbc]}."
            )
        if len(obj) == 0:
            raise ValueError(f"{where}the structure has no sites.")
        # Before the conversion, which fails on a singular cell with numpy's LinAlgError.
        _check_cell(np.asarray(obj.cell[:], dtype=float), where)
        from pymatgen.io.ase import AseAtomsAdaptor

        structure = AseAtomsAdaptor.get_structure(obj)
    else:
        raise ValueError(
            f"{where}expected a pymatgen Structure or an ASE Atoms, got {type(obj).__name__}."
        )
    if len(structure) == 0:
        raise ValueError(f"{where}the structure has no sites.")
    spacing = _check_cell(structure.lattice.matrix, where)
    finite = np.isfinite(structure.cart_coords).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{where}site {bad} has NaN or infinite coordinates.")
    if not structure.is_ordered:
        bad = next(i for i, site in enumerate(structure) if not site.is_ordered)
        raise ValueError(
            f"{where}site {bad} is disordered (partial occupancy {site_species(structure[bad])}); "
            "only ordered structures are supported."
        )
    for i, species in enumerate(structure.species):
        if isinstance(species, DummySpecies):
            raise ValueError(
                f"{where}site {i} holds {species}, a dummy species, not a chemical element; "
                "every site needs an element of the periodic table."
            )
    _check_overlaps(structure, spacing, where)
    return structure


def _check_cell(matrix: np.ndarray, where: str) -> float:
    """The smallest spacing of the lattice planes; a ValueError if below :data:`MIN_DISTANCE`.

    Lattice planes at least :data:`MIN_DISTANCE` apart also keep every lattice vector, and
    so every atom's distance to its own periodic images, at least that long.
    """
    if not np.isfinite(matrix).all():
        raise ValueError(f"{where}the lattice holds NaN or infinite values.")
    # Plain floats: numpy's cross and det cost more here than the rest of the checks.
    a, b, c = matrix.tolist()
    normals = [_cross(b, c), _cross(c, a), _cross(a, b)]
    volume = abs(sum(x * y for x, y in zip(a, normals[0], strict=True)))
    areas = [sum(x * x for x in normal) ** 0.5 for normal in normals]
    spacing = min((volume / area if area > 0 else 0.0) for area in areas)
    if not spacing >= MIN_DISTANCE:
        raise ValueError(
            f"{where}the cell is degenerate: its volume is {volume:.3g} Å³ and its lattice "
            f"planes are {spacing:.3g} Å apart (at least {MIN_DISTANCE:g} Å needed); "
            "a crystal needs three independent lattice vectors."
        )
    return spacing


def _cross(u, v):
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


_DENSE_PAIRS_MAX_SITES = 500


def _check_overlaps(structure: Structure, spacing: float, where: str) -> None:
    """Raise a ValueError naming the closest two sites if they are within :data:`MIN_DISTANCE`."""
    n = len(structure)
    if n < 2:
        return
    if n <= _DENSE_PAIRS_MAX_SITES and spacing >= 2 * MIN_DISTANCE:
        # With planes at least twice the tolerance apart, a pair closer than it is found
        # at the nearest image of each fractional difference: ten times faster than
        # pymatgen's neighbour list at this tiny radius.
        frac = structure.frac_coords
        steps = frac[:, None, :] - frac[None, :, :]
        steps -= np.rint(steps)
        cart = steps @ structure.lattice.matrix
        squared = np.einsum("ijk,ijk->ij", cart, cart)
        squared[np.tril_indices(n)] = np.inf
        i, j = np.unravel_index(int(np.argmin(squared)), squared.shape)
        distance = float(np.sqrt(squared[i, j]))
    else:
        centres, neighbours, _, distances = structure.get_neighbor_list(MIN_DISTANCE)
        if distances.size == 0:
            return
        k = int(np.argmin(distances))
        i, j = sorted((int(centres[k]), int(neighbours[k])))
        distance = float(distances[k])
    if distance < MIN_DISTANCE:
        # A site's label is its CIF label (Na2) when read from a CIF, else its species.
        raise ValueError(
            f"{where}sites {i} ({structure[i].label}) and {j} ({structure[j].label}) are "
            f"{distance:.3f} Å apart, closer than {MIN_DISTANCE:g} Å: overlapping atoms "
            "(a site listed twice?); remove one of them."
        )


def check_structures(X) -> list[Structure]:
    """Validate a collection of crystals and return a list of ``Structure``.

    Parameters
    ----------
    X : sequence of pymatgen.core.Structure or ase.Atoms
        The input samples.

    Returns
    -------
    list of pymatgen.core.Structure

    Raises
    ------
    ValueError
        If ``X`` is empty, is a single structure instead of a sequence, or any
        sample is invalid (the message names its index).
    """
    if isinstance(X, Structure) or _is_ase_atoms(X):
        raise ValueError(
            "Expected a sequence of structures, got a single "
            f"{type(X).__name__}; wrap it in a list."
        )
    if isinstance(X, (str, bytes)) or not isinstance(X, (Sequence, np.ndarray)):
        try:
            X = list(X)
        except TypeError:
            raise ValueError(
                f"Expected a sequence of structures, got {type(X).__name__}."
            ) from None
    if len(X) == 0:
        raise ValueError("Expected at least one structure, got an empty sequence.")
    return [as_structure(obj, index=i) for i, obj in enumerate(X)]


def site_species(site) -> str:
    """Readable species string of a site, e.g. ``'Fe:0.5, Co:0.5'``."""
    return ", ".join(f"{sp}:{occ:g}" for sp, occ in site.species.items())


def _is_ase_atoms(obj) -> bool:
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover - ase is a dependency
        return False
    return isinstance(obj, Atoms)


def n_species(structure: Structure) -> int:
    """Number of distinct elements in a structure."""
    return len(structure.composition.elements)


KEY_DECIMALS = 8
"""Decimals of the lattice (Å) and fractional coordinates that :func:`structure_key`
hashes."""


def structure_key(structure: Structure) -> bytes:
    """A digest that identifies a structure's lattice, species and positions.

    Used to compute the crystal system (and cached features) once per distinct
    structure. Species count with their oxidation states: Fe2+ and Fe3+ on two sites
    can lower the symmetry that two Fe atoms have.

    Lattice vectors (Å) and fractional coordinates are rounded to
    :data:`KEY_DECIMALS` decimals first: the same crystal read by another numpy or
    pymatgen release, whose fractional coordinates differ in the last bits, keeps its
    key, so a cache of phonons computed elsewhere still finds it.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(_rounded_bytes(structure.lattice.matrix))
    digest.update("\0".join(site.species_string for site in structure).encode())
    digest.update(_rounded_bytes(structure.frac_coords))
    return digest.digest()


def _rounded_bytes(values) -> bytes:
    # + 0.0 turns a rounded -0.0 into 0.0, which has other bytes.
    rounded = np.round(np.asarray(values, dtype=np.float64), KEY_DECIMALS) + 0.0
    return np.ascontiguousarray(rounded).tobytes()


def crystal_system(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> str:
    """Crystal system of a structure, one of :data:`CRYSTAL_SYSTEMS`.

    The space group is found by moyopy (a Rust implementation of spglib's method,
    about ten times faster), with the tolerances pymatgen's ``SpacegroupAnalyzer``
    gives spglib (``symprec`` in Å, 5 degrees for angles); if moyopy finds none, by
    spglib through ``SpacegroupAnalyzer``. Results are cached per distinct structure
    (lattice, species and positions), so repeated calls on the same crystal cost a
    hash, not a symmetry search.

    The two agree on 1,520 of the 1,521 crystals of the phonon set at
    ``symprec=0.1``. The other one, RbSnCl3, is a perovskite distorted by less than
    the tolerance: spglib calls it monoclinic (Cm) up to ``symprec=0.11`` and
    tetragonal (P4mm) from 0.12; moyopy calls it tetragonal from 0.08. Near such a
    threshold the system depends on how the tolerance is applied, and the package
    takes moyopy's answer.

    Parameters
    ----------
    structure : pymatgen.core.Structure
    symprec : float, default=0.1
        Distance tolerance in Å for symmetry finding.

    Returns
    -------
    str

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
    ...                                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> crystal_system(nacl)
    'cubic'
    """
    return _crystal_system_cached(structure_key(structure), float(symprec), structure)


_SYSTEM_CACHE: dict[tuple[bytes, float], str] = {}
_SYSTEM_CACHE_MAX = 200_000


def clear_crystal_system_cache() -> None:
    """Forget cached crystal systems (to time the symmetry search, for instance)."""
    _SYSTEM_CACHE.clear()


def _crystal_system_cached(key: bytes, symprec: float, structure: Structure) -> str:
    cached = _SYSTEM_CACHE.get((key, symprec))
    if cached is not None:
        return cached
    system = _find_crystal_system(structure, symprec)
    _remember_system(key, symprec, system)
    return system


def _remember_system(key: bytes, symprec: float, system: str) -> None:
    if len(_SYSTEM_CACHE) >= _SYSTEM_CACHE_MAX:
        _SYSTEM_CACHE.clear()
    _SYSTEM_CACHE[(key, symprec)] = system


# The highest space-group number of each crystal system (International Tables).
_LAST_SPACE_GROUP = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)

# pymatgen's SpacegroupAnalyzer passes spglib an angle tolerance of 5 degrees.
ANGLE_TOLERANCE = float(np.radians(5.0))


def system_of_space_group(number: int) -> str:
    """The crystal system of a space group, given its number (1–230)."""
    return next(name for last, name in _LAST_SPACE_GROUP if number <= last)


def _find_crystal_system(structure: Structure, symprec: float) -> str:
    """The crystal system from moyopy (Rust), or from spglib if moyopy finds none."""
    # Sites of the same species get one number, as pymatgen gives spglib.
    numbers: dict = {}
    try:
        import moyopy

        cell = moyopy.Cell(
            structure.lattice.matrix.tolist(),
            structure.frac_coords.tolist(),
            [numbers.setdefault(site.species, len(numbers) + 1) for site in structure],
        )
        number = moyopy.MoyoDataset(cell, symprec=symprec, angle_tolerance=ANGLE_TOLERANCE).number
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # moyopy's errors, a panic in its Rust code (a BaseException)
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        return SpacegroupAnalyzer(structure, symprec=symprec).get_crystal_system()
    return system_of_space_group(number)


def crystal_systems(
    structures: Sequence[Structure], symprec: float = DEFAULT_SYMPREC, n_jobs: int | None = None
) -> list[str]:
    """Crystal systems of many structures, computed once each and in parallel if asked.

    Parameters
    ----------
    structures : sequence of pymatgen.core.Structure
    symprec : float, default=0.1
    n_jobs : int, optional
        Processes for the structures not yet cached (joblib convention; ``None``
        means one). A search takes about 0.5 ms, about what sending a structure to
        another process costs, so it does not pay on 2 cores (1,521 new phonon crystals:
        ``docs/results.md``, "Speed and scale"); machines with many cores may gain.

    Returns
    -------
    list of str
        One of :data:`CRYSTAL_SYSTEMS` per structure.
    """
    symprec = float(symprec)
    keys = [structure_key(s) for s in structures]
    if n_jobs not in (None, 1):
        # One search per distinct structure not cached yet (at its first position).
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        missing = sorted(i for key, i in first.items() if (key, symprec) not in _SYSTEM_CACHE)
        if len(missing) > 1:
            from joblib import Parallel, delayed

            found = Parallel(n_jobs=n_jobs)(
                delayed(_find_crystal_system)(structures[i], symprec) for i in missing
            )
            for i, system in zip(missing, found, strict=True):
                _remember_system(keys[i], symprec, system)
    return [
        _crystal_system_cached(key, symprec, structure)
        for key, structure in zip(keys, structures, strict=True)
    ]
