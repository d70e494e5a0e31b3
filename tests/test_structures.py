"""Tests for dos_estimators.structures: input checking, crystal systems, species count."""

from functools import cache

import ase
import numpy as np
import pytest
from conftest import build as _built
from conftest import tiny_dataset
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from dos_estimators import structures as st
from dos_estimators.structures import (
    CRYSTAL_SYSTEMS,
    as_structure,
    check_structures,
    clear_crystal_system_cache,
    crystal_system,
    crystal_systems,
    n_species,
)


@cache
def _tiny():
    return tiny_dataset()[0]


def nacl():
    return _built("rock_salt").copy()


def carbon():
    return _built("diamond").copy()


def zno():
    return _built("wurtzite").copy()


def tiny():
    return [s.copy() for s in _tiny()]


def _disordered():
    return Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])


def _assert_same_crystal(a: Structure, b: Structure):
    assert a.atomic_numbers == b.atomic_numbers
    np.testing.assert_allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-8)
    np.testing.assert_allclose(a.cart_coords, b.cart_coords, atol=1e-8)


# ---------------------------------------------------------------- check_structures


def test_check_structures_accepts_pymatgen_structures():
    structures = tiny()
    out = check_structures(structures)
    assert isinstance(out, list)
    assert len(out) == len(structures)
    for got, expected in zip(out, structures, strict=True):
        assert isinstance(got, Structure)
        _assert_same_crystal(got, expected)


def test_check_structures_accepts_ase_atoms():
    salt, oxide = nacl(), zno()
    atoms = [AseAtomsAdaptor.get_atoms(salt), AseAtomsAdaptor.get_atoms(oxide)]
    assert all(isinstance(a, ase.Atoms) for a in atoms)
    out = check_structures(atoms)
    assert all(isinstance(s, Structure) for s in out)
    _assert_same_crystal(out[0], salt)
    _assert_same_crystal(out[1], oxide)


def test_check_structures_accepts_ase_atoms_built_by_hand():
    atoms = ase.Atoms(
        "NaCl",
        cell=np.eye(3) * 4.0,
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]],
        pbc=True,
    )
    (structure,) = check_structures([atoms])
    assert [str(el) for el in structure.species] == ["Na", "Cl"]
    np.testing.assert_allclose(structure.lattice.abc, [4.0, 4.0, 4.0])
    np.testing.assert_allclose(structure.frac_coords, [[0, 0, 0], [0.5, 0.5, 0.5]], atol=1e-12)


def test_check_structures_accepts_mixed_tuple_and_generator():
    mixed = (nacl(), AseAtomsAdaptor.get_atoms(carbon()))
    assert len(check_structures(mixed)) == 2
    assert len(check_structures(s for s in [nacl(), carbon()])) == 2


@pytest.mark.parametrize("bad", ["not a structure", 42, None, np.zeros(3)])
def test_check_structures_rejects_non_structure_with_index(bad):
    with pytest.raises(ValueError, match=r"Sample 1\b.*expected a pymatgen Structure"):
        check_structures([nacl(), bad])


def test_check_structures_rejects_string_input():
    with pytest.raises(ValueError, match="Sample 0"):
        check_structures("NaCl")


@pytest.mark.parametrize("empty", [[], (), np.array([], dtype=object)])
def test_check_structures_rejects_empty(empty):
    with pytest.raises(ValueError, match="at least one structure"):
        check_structures(empty)


def test_check_structures_rejects_single_structure():
    with pytest.raises(ValueError, match="single Structure.*wrap it in a list"):
        check_structures(nacl())


def test_check_structures_rejects_single_atoms():
    atoms = ase.Atoms("Cu", cell=np.eye(3) * 3.6, pbc=True)
    with pytest.raises(ValueError, match="single Atoms.*wrap it in a list"):
        check_structures(atoms)
    # AseAtomsAdaptor returns an Atoms subclass, rejected the same way.
    with pytest.raises(ValueError, match="single .*Atoms"):
        check_structures(AseAtomsAdaptor.get_atoms(nacl()))


def test_check_structures_rejects_non_iterable():
    with pytest.raises(ValueError, match="Expected a sequence of structures, got int"):
        check_structures(3)


def test_check_structures_rejects_disordered_site():
    with pytest.raises(ValueError, match=r"Sample 2\b.*site 0 is disordered.*Fe:0.5.*Co:0.5"):
        check_structures([nacl(), carbon(), _disordered()])


def test_check_structures_rejects_disordered_site_names_the_site():
    structure = Structure(
        Lattice.cubic(4.0), ["Na", {"Fe": 0.5, "Co": 0.5}], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    with pytest.raises(ValueError, match=r"Sample 0\b.*site 1 is disordered"):
        check_structures([structure])


@pytest.mark.parametrize("pbc", [False, [True, True, False]])
def test_check_structures_rejects_non_periodic_atoms(pbc):
    molecule = ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=np.eye(3) * 10, pbc=pbc)
    with pytest.raises(ValueError, match=r"Sample 1\b.*periodic"):
        check_structures([nacl(), molecule])


def test_check_structures_rejects_structure_without_sites():
    empty = Structure(Lattice.cubic(3.0), [], [])
    with pytest.raises(ValueError, match=r"Sample 1\b.*no sites"):
        check_structures([nacl(), empty])


def test_as_structure_without_index_has_no_sample_prefix():
    with pytest.raises(ValueError) as info:
        as_structure("x")
    assert "Sample" not in str(info.value)


# ---------------------------------------------------------------- crystal systems


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        ("rock_salt", "cubic"),
        ("diamond", "cubic"),
        ("wurtzite", "hexagonal"),
    ],
)
def test_crystal_system(builder, expected):
    clear_crystal_system_cache()
    assert crystal_system(_built(builder)) == expected
    assert expected in CRYSTAL_SYSTEMS


def test_crystal_system_lower_symmetries():
    structures = tiny()
    clear_crystal_system_cache()
    # tiny_dataset's 7th crystal has a tetragonal lattice, but its two O atoms at
    # (0.3, 0.3, 0) and (0.7, 0.7, 0) break the four-fold axis: orthorhombic (mmm).
    assert crystal_system(structures[6]) == "orthorhombic"
    # The 8th has a monoclinic lattice, but S at the general position (0.4, 0.3, 0.2)
    # removes the two-fold axis: triclinic.
    assert crystal_system(structures[7]) == "triclinic"
    # One atom on the same lattice keeps the lattice's 2/m symmetry.
    lattice = structures[7].lattice
    assert crystal_system(Structure(lattice, ["Ca"], [[0, 0, 0]])) == "monoclinic"
    # NaCl on a tetragonal lattice (c != a) keeps the four-fold axis.
    body_centred = Structure(
        Lattice.tetragonal(4.0, 5.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    assert crystal_system(body_centred) == "tetragonal"


def _one_of_each_system():
    """A small crystal of each of the seven systems, from a space group of that system."""

    def made(group, lattice, species, coords):
        return Structure.from_spacegroup(group, lattice, species, coords)

    return {
        "cubic": made(
            "Pm-3m",
            Lattice.cubic(3.9),
            ["Sr", "Ti", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]],
        ),
        "hexagonal": made("P6_3/mmc", Lattice.hexagonal(2.5, 6.7), ["C"], [[0, 0, 0.25]]),
        "tetragonal": made(
            "P4/mmm",
            Lattice.tetragonal(3.8, 4.1),
            ["Pb", "Ti", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0.5]],
        ),
        "trigonal": made(
            "R-3m", Lattice.hexagonal(4.3, 30.0), ["Bi", "Te"], [[0, 0, 0.4], [0, 0, 0]]
        ),
        "orthorhombic": made(
            "Pnma",
            Lattice.orthorhombic(5.5, 7.7, 5.4),
            ["Ca", "Ti"],
            [[0.0, 0.25, 0.99], [0, 0, 0.5]],
        ),
        "monoclinic": made(
            "P2_1/c",
            Lattice.monoclinic(5.1, 5.2, 5.3, 99.0),
            ["Zr", "O"],
            [[0.28, 0.04, 0.21], [0.07, 0.33, 0.34]],
        ),
        "triclinic": made(
            "P-1",
            Lattice.from_parameters(5.0, 6.0, 7.0, 80, 85, 95),
            ["Si", "O"],
            [[0.1, 0.2, 0.3], [0.4, 0.1, 0.2]],
        ),
    }


@pytest.mark.parametrize("system", CRYSTAL_SYSTEMS)
def test_crystal_system_agrees_with_pymatgen_on_every_system(system):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = _one_of_each_system()[system]
    clear_crystal_system_cache()
    assert crystal_system(structure) == system
    assert SpacegroupAnalyzer(structure, symprec=0.1).get_crystal_system() == system


@pytest.mark.parametrize(
    ("number", "system"),
    [
        (1, "triclinic"),
        (2, "triclinic"),
        (3, "monoclinic"),
        (15, "monoclinic"),
        (16, "orthorhombic"),
        (74, "orthorhombic"),
        (75, "tetragonal"),
        (142, "tetragonal"),
        (143, "trigonal"),
        (167, "trigonal"),
        (168, "hexagonal"),
        (194, "hexagonal"),
        (195, "cubic"),
        (230, "cubic"),
    ],
)
def test_system_of_space_group_at_each_boundary(number, system):
    assert st.system_of_space_group(number) == system


def test_crystal_system_falls_back_to_spglib_when_moyopy_finds_nothing(monkeypatch):
    import moyopy

    def fails(*args, **kwargs):
        raise RuntimeError("no symmetry found")

    monkeypatch.setattr(moyopy, "MoyoDataset", fails)
    clear_crystal_system_cache()
    assert crystal_system(zno()) == "hexagonal"
    clear_crystal_system_cache()


def test_crystal_system_tells_apart_species_with_the_same_element():
    # Fe2+ and Fe3+ on the two rock-salt sites are two species: still cubic, but the
    # body-centred lattice of identical atoms would be found if they were merged.
    mixed = Structure(
        Lattice.tetragonal(3.0, 3.0),
        [{"Fe2+": 1}, {"Fe3+": 1}],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    clear_crystal_system_cache()
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    assert crystal_system(mixed) == SpacegroupAnalyzer(mixed).get_crystal_system() == "cubic"


def test_crystal_systems_values_and_order():
    clear_crystal_system_cache()
    structures = [zno(), nacl(), zno(), carbon()]
    assert crystal_systems(structures) == ["hexagonal", "cubic", "hexagonal", "cubic"]


@pytest.fixture
def counted_search(monkeypatch):
    """Count the symmetry searches actually run (serial path)."""
    calls = []
    original = st._find_crystal_system

    def counting(structure, symprec):
        calls.append(symprec)
        return original(structure, symprec)

    monkeypatch.setattr(st, "_find_crystal_system", counting)
    clear_crystal_system_cache()
    yield calls
    clear_crystal_system_cache()


def test_crystal_systems_cache(counted_search):
    structures = [nacl(), zno(), nacl()]
    first = crystal_systems(structures)
    # The two identical rock-salt cells share one search.
    assert len(counted_search) == 2
    second = crystal_systems(structures)
    assert second == first == ["cubic", "hexagonal", "cubic"]
    assert len(counted_search) == 2
    # An equal copy is found in the cache; so is the single-structure entry point.
    assert crystal_system(nacl().copy()) == "cubic"
    assert len(counted_search) == 2


def test_crystal_system_cache_is_keyed_by_symprec(counted_search):
    salt = nacl()
    crystal_system(salt, symprec=0.1)
    crystal_system(salt, symprec=0.01)
    assert len(counted_search) == 2
    crystal_system(salt, symprec=0.01)
    assert len(counted_search) == 2


def test_clear_crystal_system_cache(counted_search):
    structures = [nacl(), zno()]
    crystal_systems(structures)
    assert len(counted_search) == 2
    clear_crystal_system_cache()
    assert crystal_systems(structures) == ["cubic", "hexagonal"]
    assert len(counted_search) == 4


def test_distorted_crystal_is_not_served_from_cache():
    clear_crystal_system_cache()
    structure = nacl()
    assert crystal_system(structure) == "cubic"
    # Same species and fractional coordinates, stretched lattice: a new cache key.
    structure.lattice = Lattice(structure.lattice.matrix * [1.0, 1.0, 1.3])
    assert crystal_system(structure) != "cubic"


# ---------------------------------------------------------------- n_species


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        ("rock_salt", 2),
        ("diamond", 1),
        ("wurtzite", 2),
        ("isolated", 2),
        ("mgo", 2),
    ],
)
def test_n_species(builder, expected):
    assert n_species(_built(builder)) == expected


def test_n_species_three_elements():
    structure = Structure(
        Lattice.cubic(4.0),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    assert n_species(structure) == 3


def test_parallel_search_runs_once_per_distinct_structure(monkeypatch):
    # n_jobs hands only the distinct uncached structures to joblib, each once.
    import joblib

    tasks = []

    class SerialParallel:
        def __init__(self, n_jobs=None):
            assert n_jobs == 2

        def __call__(self, calls):
            calls = list(calls)
            tasks.extend(calls)
            return [function(*args, **kwargs) for function, args, kwargs in calls]

    monkeypatch.setattr(joblib, "Parallel", SerialParallel)
    clear_crystal_system_cache()
    structures = [nacl(), zno(), nacl(), nacl().copy(), zno()]
    assert crystal_systems(structures, n_jobs=2) == [
        "cubic",
        "hexagonal",
        "cubic",
        "cubic",
        "hexagonal",
    ]
    assert len(tasks) == 2
    clear_crystal_system_cache()
