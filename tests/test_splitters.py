"""Tests for the splitters of dos_estimators.model_selection."""

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from dos_estimators.model_selection import (
    CrystalSystemSplit,
    ElementBalancedSplit,
    LeaveOneCrystalSystemOut,
    SpeciesCountSplit,
)
from dos_estimators.structures import CRYSTAL_SYSTEMS, crystal_systems, n_species

LATTICES = {
    "cubic": Lattice.cubic(4.0),
    "hexagonal": Lattice.hexagonal(3.0, 5.0),
    "tetragonal": Lattice.tetragonal(4.0, 6.0),
    "trigonal": Lattice.rhombohedral(5.0, 70.0),
    "orthorhombic": Lattice.orthorhombic(4.0, 5.0, 6.0),
    "monoclinic": Lattice.monoclinic(4.0, 5.0, 6.0, 100.0),
    "triclinic": Lattice.from_parameters(4.0, 5.0, 6.0, 80.0, 85.0, 95.0),
}
ELEMENTS = ["Li", "Na", "K", "Mg", "Ca", "O", "S", "Cl", "Br", "Si", "Ti", "Fe", "Cu", "Zn"]


def one_atom_cells(counts: dict[str, int]) -> list[Structure]:
    """``counts[system]`` one-atom cells of each crystal system (the lattice sets the system)."""
    cells = []
    for system, count in counts.items():
        for k in range(count):
            lattice = Lattice(LATTICES[system].matrix * (1 + 0.01 * k))
            cells.append(Structure(lattice, [ELEMENTS[k % len(ELEMENTS)]], [[0, 0, 0]]))
    return cells


def cells_with_species(counts) -> list[Structure]:
    """One cubic cell per entry of ``counts``, with that many distinct elements."""
    rng = np.random.default_rng(0)
    return [Structure(Lattice.cubic(6.0), ELEMENTS[:n], rng.uniform(size=(n, 3))) for n in counts]


def random_compounds(n: int, seed: int = 0) -> list[Structure]:
    """Random binary and ternary compounds of ``ELEMENTS`` with no particular symmetry."""
    rng = np.random.default_rng(seed)
    compounds = []
    for _ in range(n):
        n_elements = int(rng.integers(2, 4))
        species = list(rng.choice(ELEMENTS, size=n_elements, replace=False))
        compounds.append(Structure(Lattice.cubic(7.0), species, rng.uniform(size=(n_elements, 3))))
    return compounds


def elements_of(structure) -> set[str]:
    return {el.symbol for el in structure.composition.elements}


def volume_features(structures):
    """Two cheap features per crystal, so that a Ridge can be cross-validated on Structures."""
    return np.array([[s.volume / len(s), len(s)] for s in structures])


def cheap_model():
    return make_pipeline(FunctionTransformer(volume_features), Ridge())


def check_partition(train, test, n_samples, cover=True):
    assert train.dtype.kind == test.dtype.kind == "i"
    assert len(train) and len(test)
    assert not set(train) & set(test)
    assert list(train) == sorted(set(train)) and list(test) == sorted(set(test))
    if cover:
        assert len(train) + len(test) == n_samples


# -- ElementBalancedSplit ---------------------------------------------------------------


def test_element_balanced_sizes_disjoint_and_cover():
    X = random_compounds(60)
    cv = ElementBalancedSplit(n_splits=3, test_size=0.1, random_state=0)
    splits = list(cv.split(X))
    assert len(splits) == cv.get_n_splits() == 3
    for train, test in splits:
        check_partition(train, test, len(X))
        assert len(test) == 6


def test_element_balanced_every_held_out_element_is_in_training():
    X = random_compounds(80, seed=1)
    # Two compounds hold elements found nowhere else: they must stay in training.
    X.append(Structure(Lattice.cubic(5.0), ["Au", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    X.append(Structure(Lattice.cubic(5.0), ["Pt", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    for train, test in ElementBalancedSplit(n_splits=10, test_size=0.25, random_state=0).split(X):
        seen = set().union(*(elements_of(X[i]) for i in train))
        assert all(elements_of(X[i]) <= seen for i in test)
        assert {len(X) - 2, len(X) - 1} <= set(train)


def test_element_balanced_holds_out_each_element_in_proportion():
    X = random_compounds(400, seed=2)
    contains = Counter(e for s in X for e in elements_of(s))
    rng_shares, balanced_shares = [], []
    rng = np.random.default_rng(0)
    for _, test in ElementBalancedSplit(n_splits=5, test_size=0.2, random_state=0).split(X):
        held = Counter(e for i in test for e in elements_of(X[i]))
        balanced_shares.append(max(abs(held[e] / contains[e] - 0.2) for e in contains))
        random_test = rng.permutation(len(X))[: len(test)]
        held = Counter(e for i in random_test for e in elements_of(X[i]))
        rng_shares.append(max(abs(held[e] / contains[e] - 0.2) for e in contains))
    # Every element (each in 55 to 85 compounds) is held out within one crystal of 20 %.
    assert max(balanced_shares) < 1 / 85
    assert max(balanced_shares) < min(rng_shares)


def test_element_balanced_is_deterministic_with_a_seed():
    X = random_compounds(50)

    def splits(seed):
        return [
            (tr.tolist(), te.tolist())
            for tr, te in ElementBalancedSplit(n_splits=2, random_state=seed).split(X)
        ]

    assert splits(3) == splits(3)
    assert splits(3) != splits(4)
    first, second = splits(3)
    assert first != second


def test_element_balanced_integer_test_size():
    X = random_compounds(30)
    train, test = next(ElementBalancedSplit(n_splits=1, test_size=4, random_state=0).split(X))
    assert len(test) == 4 and len(train) == 26


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"test_size": 0.0}, "test_size"),
        ({"test_size": 1.0}, "test_size"),
        ({"test_size": 30}, "test_size=30"),
        ({"test_size": "10%"}, "test_size"),
        ({"n_splits": 0}, "n_splits"),
    ],
)
def test_element_balanced_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        next(ElementBalancedSplit(**params).split(random_compounds(30)))


def test_element_balanced_impossible_split_names_the_lonely_elements():
    # Every element occurs in one crystal only: none can be held out.
    X = [
        Structure(Lattice.cubic(5.0), pair, [[0, 0, 0], [0.5, 0.5, 0.5]])
        for pair in [("Na", "Cl"), ("K", "Br"), ("Mg", "O")]
    ]
    with pytest.raises(ValueError, match=r"Only 0 of the 1 .*'Br', 'Cl', 'K', 'Mg', 'Na', 'O'"):
        next(ElementBalancedSplit(test_size=0.3).split(X))


# -- CrystalSystemSplit -----------------------------------------------------------------


def test_one_atom_cells_have_the_intended_systems():
    X = one_atom_cells(dict.fromkeys(CRYSTAL_SYSTEMS, 1))
    assert crystal_systems(X) == list(CRYSTAL_SYSTEMS)


def test_crystal_system_split_holds_out_monoclinic_and_triclinic():
    X = one_atom_cells(dict.fromkeys(CRYSTAL_SYSTEMS, 2))
    systems = crystal_systems(X)
    splits = list(CrystalSystemSplit().split(X))
    assert len(splits) == CrystalSystemSplit().get_n_splits() == 1
    train, test = splits[0]
    check_partition(train, test, len(X))
    assert {systems[i] for i in test} == {"monoclinic", "triclinic"}
    assert {systems[i] for i in train} == {
        "cubic",
        "hexagonal",
        "tetragonal",
        "trigonal",
        "orthorhombic",
    }


def test_crystal_system_split_custom_systems_and_single_name():
    X = one_atom_cells({"cubic": 2, "hexagonal": 3, "trigonal": 1})
    train, test = next(CrystalSystemSplit(test_systems="hexagonal").split(X))
    assert test.tolist() == [2, 3, 4]
    train, test = next(CrystalSystemSplit(test_systems=("hexagonal", "trigonal")).split(X))
    assert train.tolist() == [0, 1]


def test_crystal_system_split_empty_side_lists_the_systems_found():
    X = one_atom_cells({"cubic": 2, "hexagonal": 1})
    with pytest.raises(ValueError, match=r"test part empty.*cubic \(2\), hexagonal \(1\)"):
        next(CrystalSystemSplit().split(X))
    with pytest.raises(ValueError, match=r"training part empty.*cubic \(2\), hexagonal \(1\)"):
        next(CrystalSystemSplit(test_systems=("cubic", "hexagonal")).split(X))


@pytest.mark.parametrize("bad", [("monoclinc",), ("cubic", "rhombic"), ()])
def test_crystal_system_split_unknown_system(bad):
    with pytest.raises(ValueError, match="test_systems") as err:
        next(CrystalSystemSplit(test_systems=bad).split(one_atom_cells({"cubic": 2})))
    if bad:
        assert "triclinic" in str(err.value) and repr(bad[-1]) in str(err.value)


def test_crystal_system_split_rejects_bad_symprec():
    with pytest.raises(ValueError, match="symprec"):
        next(CrystalSystemSplit(symprec=0).split(one_atom_cells({"cubic": 2})))


def test_crystal_system_split_uses_symprec():
    # A cubic cell stretched by 0.05 Å is cubic at symprec 0.1 and tetragonal at 0.01.
    X = [Structure(Lattice.tetragonal(4.0, 4.05), ["Cu"], [[0, 0, 0]])] + one_atom_cells(
        {"tetragonal": 1}
    )
    assert next(CrystalSystemSplit(test_systems="cubic").split(X))[1].tolist() == [0]
    with pytest.raises(ValueError, match=r"tetragonal \(2\)"):
        next(CrystalSystemSplit(test_systems="cubic", symprec=0.01).split(X))


# -- SpeciesCountSplit ------------------------------------------------------------------


def test_species_count_split_paper_sets():
    counts = [1, 2, 3, 4, 5, 6, 2, 3, 1]
    X = cells_with_species(counts)
    assert [n_species(s) for s in X] == counts
    train, test = next(SpeciesCountSplit().split(X))
    check_partition(train, test, len(X), cover=False)
    assert sorted(counts[i] for i in train) == [2, 2, 3, 3]
    assert sorted(counts[i] for i in test) == [1, 1, 4, 5]
    # The six-species crystal belongs to neither side.
    assert 5 not in set(train) | set(test)
    assert SpeciesCountSplit().get_n_splits() == 1


def test_species_count_split_none_means_all_others():
    counts = [1, 2, 3, 6]
    X = cells_with_species(counts)
    train, test = next(SpeciesCountSplit(train_counts=(2,), test_counts=None).split(X))
    assert (train.tolist(), test.tolist()) == ([1], [0, 2, 3])
    train, test = next(SpeciesCountSplit(train_counts=None, test_counts=[6]).split(X))
    assert (train.tolist(), test.tolist()) == ([0, 1, 2], [3])


def test_species_count_split_empty_side_lists_the_counts_found():
    X = cells_with_species([2, 3, 3])
    with pytest.raises(ValueError, match=r"test part empty.*2 \(1\), 3 \(2\)"):
        next(SpeciesCountSplit().split(X))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"train_counts": (2, 3), "test_counts": (3, 4)}, r"share \[3\]"),
        ({"train_counts": None, "test_counts": None}, "both be None"),
        ({"train_counts": (0, 2)}, "train_counts"),
        ({"test_counts": (1.5,)}, "test_counts"),
        ({"test_counts": ()}, "test_counts"),
    ],
)
def test_species_count_split_invalid_counts(params, match):
    with pytest.raises(ValueError, match=match):
        next(SpeciesCountSplit(**params).split(cells_with_species([1, 2, 3])))


# -- LeaveOneCrystalSystemOut -----------------------------------------------------------


def test_leave_one_crystal_system_out_one_fold_per_system():
    X = one_atom_cells({"triclinic": 1, "cubic": 2, "trigonal": 3})
    systems = crystal_systems(X)
    cv = LeaveOneCrystalSystemOut()
    assert cv.get_n_splits(X) == 3
    folds = list(cv.split(X))
    assert [systems[test[0]] for _, test in folds] == ["cubic", "trigonal", "triclinic"]
    for train, test in folds:
        check_partition(train, test, len(X))
        assert len({systems[i] for i in test}) == 1
        assert systems[test[0]] not in {systems[i] for i in train}
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(len(X)))


def test_leave_one_crystal_system_out_needs_two_systems():
    X = one_atom_cells({"cubic": 3})
    with pytest.raises(ValueError, match=r"at least two crystal systems; found: cubic \(3\)"):
        next(LeaveOneCrystalSystemOut().split(X))
    with pytest.raises(ValueError, match="needs X"):
        LeaveOneCrystalSystemOut().get_n_splits()


def test_invalid_structures_are_rejected():
    with pytest.raises(ValueError, match="Sample 1"):
        next(LeaveOneCrystalSystemOut().split([one_atom_cells({"cubic": 1})[0], "NaCl"]))


# -- with scikit-learn consumers ----------------------------------------------------------


def test_splitters_in_cross_val_score_and_cross_validate():
    X = one_atom_cells({"cubic": 4, "hexagonal": 4, "monoclinic": 3, "triclinic": 2})
    y = volume_features(X)[:, 0] * 0.1
    scores = cross_val_score(cheap_model(), X, y, cv=LeaveOneCrystalSystemOut())
    assert scores.shape == (4,)
    result = cross_validate(cheap_model(), X, y, cv=CrystalSystemSplit())
    assert result["test_score"].shape == (1,)
    scores = cross_val_score(
        cheap_model(), X, y, cv=ElementBalancedSplit(n_splits=2, test_size=2, random_state=0)
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_species_count_split_in_grid_search():
    X = cells_with_species([2, 3, 2, 3, 2, 3, 1, 4, 4, 5])
    y = np.arange(len(X), dtype=float)
    search = GridSearchCV(
        cheap_model(), {"ridge__alpha": [0.1, 10.0]}, cv=SpeciesCountSplit(), refit=False
    )
    search.fit(X, y)
    assert search.n_splits_ == 1
    assert len(search.cv_results_["params"]) == 2


def test_repr_lists_parameters():
    assert repr(CrystalSystemSplit(test_systems=("triclinic",))).startswith(
        "CrystalSystemSplit(n_jobs=None, symprec=0.1"
    )


# -- on the phonon data set ---------------------------------------------------------------


@pytest.fixture(scope="module")
def phonon_structures(shared_data_home):
    from dos_estimators.datasets import load_phonon_dos

    return load_phonon_dos(data_home=shared_data_home, download_if_missing=False).structures


def test_phonon_set_split_sizes(phonon_structures):
    X = phonon_structures
    train, test = next(CrystalSystemSplit().split(X))
    assert (len(train), len(test)) == (1362, 159)  # 1361 and 160 with spglib (RbSnCl3)
    train, test = next(SpeciesCountSplit().split(X))
    assert (len(train), len(test)) == (1313, 208)
    sizes = [len(test) for _, test in LeaveOneCrystalSystemOut().split(X)]
    assert sizes == [425, 119, 326, 288, 204, 151, 8]
    contains = Counter(e for s in X for e in elements_of(s))
    common = [e for e, c in contains.items() if c >= 20]
    for train, test in ElementBalancedSplit(n_splits=2, random_state=0).split(X):
        assert (len(train), len(test)) == (1368, 153)
        held = Counter(e for i in test for e in elements_of(X[i]))
        assert max(abs(held[e] / contains[e] - 0.1) for e in common) <= 0.02 + 1e-9


def test_formula_group_split_keeps_polymorphs_together():
    from conftest import diamond, rock_salt
    from sklearn.model_selection import GroupKFold

    from dos_estimators.model_selection import FormulaGroupSplit, reduced_formulas

    X = [
        rock_salt(a, species)
        for species in (("Na", "Cl"), ("K", "Cl"), ("Mg", "O"))
        for a in (5.0, 5.5)
    ] + [diamond(3.57), diamond(3.6), diamond(5.43, "Si")]
    formulas = reduced_formulas(X)
    assert formulas.tolist()[:2] == ["NaCl", "NaCl"] and formulas[-1] == "Si"
    splitter = FormulaGroupSplit(n_splits=4, test_size=0.4, random_state=0)
    splits = list(splitter.split(X))
    assert len(splits) == splitter.get_n_splits() == 4
    for train, test in splits:
        assert len(test) and not set(formulas[train]) & set(formulas[test])
        assert sorted([*train, *test]) == list(range(len(X)))
    again = list(FormulaGroupSplit(n_splits=4, test_size=0.4, random_state=0).split(X))
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))
    for train, test in GroupKFold(n_splits=3).split(X, groups=formulas):
        assert not set(formulas[train]) & set(formulas[test])


@pytest.mark.parametrize(
    "params, words",
    [
        ({"n_splits": 0}, "n_splits"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": 2}, "test_size"),
    ],
)
def test_formula_group_split_checks_its_parameters(params, words):
    from conftest import rock_salt

    from dos_estimators.model_selection import FormulaGroupSplit

    X = [rock_salt(5.0), rock_salt(5.0, ("K", "Cl"))]
    with pytest.raises(ValueError, match=words):
        next(FormulaGroupSplit(**params).split(X))


def test_formula_group_split_needs_two_formulas():
    from conftest import rock_salt

    from dos_estimators.model_selection import FormulaGroupSplit

    with pytest.raises(ValueError, match="at least 2 reduced formulas"):
        next(FormulaGroupSplit().split([rock_salt(5.0), rock_salt(5.5)]))
