"""What the tests of the splitters of :mod:`dos_estimators.model_selection` share.

Small crystals made to order (one crystal system, a number of species, random compounds),
a cheap model that scikit-learn can cross-validate on Structures, and a check that a
split is a partition.
"""

import numpy as np
from pymatgen.core import Lattice, Structure
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

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
