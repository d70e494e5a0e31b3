"""Small crystals built in code, and the location of the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from dos_estimators.datasets import DATA_ENV

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    # The test models are tiny and gain nothing from intra-op threads, while on
    # a busy two-core machine thread oversubscription makes them many times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def own_cpu_turns(tmp_path_factory):
    # Fits and predictions take turns on the CPU cores through lock files (see
    # dos_estimators._cpu). The tests use their own folder: they should neither wait
    # for the user's benchmarks on the same machine nor slow them down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOS_ESTIMATORS_CPU_LOCKS", str(tmp_path_factory.mktemp("cpu_locks")))
        yield


def _fcc(a: float) -> Lattice:
    """Primitive face-centred-cubic lattice of cubic constant ``a``."""
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def rock_salt(a: float = 5.64, species=("Na", "Cl")) -> Structure:
    """Primitive rock-salt cell (2 atoms)."""
    return Structure(_fcc(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def diamond(a: float = 3.57, species: str = "C") -> Structure:
    """Primitive diamond cell (2 atoms)."""
    return Structure(_fcc(a), [species, species], [[0, 0, 0], [0.25, 0.25, 0.25]])


def wurtzite(a: float = 3.25, c: float = 5.21) -> Structure:
    """Hexagonal ZnO-like cell (4 atoms)."""
    return Structure.from_spacegroup(
        "P6_3mc", Lattice.hexagonal(a, c), ["Zn", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]]
    )


def isolated_atom_cell() -> Structure:
    """A 3-atom cell whose third atom has no neighbour within 5 Å."""
    lattice = Lattice.orthorhombic(14.0, 14.0, 14.0)
    return Structure(lattice, ["Si", "Si", "O"], [[0, 0, 0], [0.17, 0, 0], [0.5, 0.5, 0.5]])


BUILDERS = {
    "rock_salt": rock_salt,
    "diamond": diamond,
    "wurtzite": wurtzite,
    "isolated": isolated_atom_cell,
    "mgo": lambda: rock_salt(5.0, ("Mg", "O")),
}


def benchmark_script(name: str):
    """``benchmarks/NAME.py`` as a module (``benchmarks/`` on the path while it is imported)."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


def rotated(structure: Structure, matrix: np.ndarray) -> Structure:
    """The same crystal with its Cartesian frame rotated by ``matrix``."""
    return Structure(
        structure.lattice.matrix @ matrix.T,
        structure.species,
        structure.cart_coords @ matrix.T,
        coords_are_cartesian=True,
    )


def build(name: str) -> Structure:
    """A fresh copy of one of the small crystals above, by name."""
    return BUILDERS[name]()


def tiny_dataset(n_energies: int = 12, seed: int = 0):
    """Eight small crystals of different systems and atom counts, with smooth fake DOS."""
    structures = [
        rock_salt(5.64),
        rock_salt(5.0, ("Mg", "O")),
        diamond(3.57),
        diamond(5.43, "Si"),
        wurtzite(),
        isolated_atom_cell(),
        Structure(
            Lattice.tetragonal(4.0, 6.0),
            ["Ti", "O", "O"],
            [[0, 0, 0], [0.3, 0.3, 0], [0.7, 0.7, 0]],
        ),
        Structure(
            Lattice.monoclinic(5.0, 6.0, 7.0, 100), ["Ca", "S"], [[0, 0, 0], [0.4, 0.3, 0.2]]
        ),
    ]
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, n_energies)
    centres = rng.uniform(0.2, 0.8, len(structures))
    y = np.exp(-(((grid[None] - centres[:, None]) / 0.15) ** 2))
    return structures, y / y.max(axis=1, keepdims=True)


TINY_TRANSFORMER = dict(
    # An element table: the tests of the estimator's machinery need no CHGNet forward pass
    # (the default node features, Magpie + CHGNet, have tests of their own).
    node_features="magpie",
    hidden=16,
    n_heads=2,
    n_gnn_layers=1,
    n_cross_layers=1,
    n_self_layers=1,
    n_cross_layers_out=1,
    max_epochs=3,
    batch_size=4,
    random_state=0,
)
"""Parameters of a DOSTransformerRegressor that trains on :func:`tiny_dataset` in a moment."""


CONFIGURATION_PARAMS = (
    "encoder",
    "edge_basis",
    "attention",
    "fusion",
    "share_paths",
    "prompt",
    "energy_encoding",
    "heads",
    "crystal_descriptors",
    "self_loops",
    "lr_schedule",
)
"""The DOSTransformerRegressor parameters that select the released code's choices or ours."""


def tiny_transformer(**overrides):
    """A seeded :data:`TINY_TRANSFORMER` ``DOSTransformerRegressor``, with ``overrides``."""
    from dos_estimators import DOSTransformerRegressor

    return DOSTransformerRegressor(**{**TINY_TRANSFORMER, **overrides})


def bad_targets(kind: str, y):
    """A copy of the DOS matrix ``y`` spoiled in one way, for the input-error tests.

    ``kind``: ``"nan"``, ``"inf"`` or ``"negative"`` (row 3), ``"ragged"`` (row 5
    shorter), ``"rows"`` (last row dropped) or ``"1d"`` (first column only).
    """
    y = np.array(y, dtype=float)
    if kind in ("nan", "inf", "negative"):
        y[3, 2] = {"nan": np.nan, "inf": np.inf, "negative": -0.5}[kind]
        return y
    if kind == "ragged":
        rows = [list(row) for row in y]
        rows[5] = rows[5][:-2]
        return rows
    if kind == "rows":
        return y[:-1]
    if kind == "1d":
        return y[:, 0]
    raise ValueError(f"unknown kind {kind!r}")


@pytest.fixture
def small_data():
    return tiny_dataset()


@pytest.fixture(scope="session")
def shared_data_home():
    """Folder holding the shared data sets; skips the test when it is absent."""
    for candidate in (os.environ.get(DATA_ENV), SHARED_DATA):
        if candidate and (Path(candidate) / "phonon_dos_e3nn.csv").is_file():
            return Path(candidate)
    pytest.skip(
        f"phonon_dos_e3nn.csv not found: set {DATA_ENV} to the folder of the shared data sets "
        f"(CI uses ../shared/data)."
    )
