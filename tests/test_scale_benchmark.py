"""Tests of the stand-in large set of ``benchmarks/scale.py`` (the benchmark itself is a script)."""

import numpy as np
import pytest
from conftest import benchmark_script, diamond, rock_salt, wurtzite
from sklearn.utils import Bunch

from dos_estimators.structures import crystal_systems, structure_key


@pytest.fixture(scope="module")
def scale():
    return benchmark_script("scale")


@pytest.fixture
def small_set():
    structures = [rock_salt(), diamond(), wurtzite()]
    energies = np.linspace(0.0, 1000.0, 51)
    dos = np.array([np.exp(-((energies - centre) ** 2) / 2e4) for centre in (200, 500, 800)])
    return Bunch(structures=structures, dos=dos, energies=energies)


def test_copies_are_new_crystals_of_the_same_system(scale, small_set):
    structures, dos, energies = scale.make_set(small_set, 10)
    assert len(structures) == 10 and dos.shape == (10, scale.N_ENERGIES)
    assert energies[0] == 0.0 and energies[-1] == 1000.0 and len(energies) == 201
    # The first copy of each crystal is the crystal; every later one is a new content key.
    assert structures[:3] == small_set.structures
    assert len({structure_key(s) for s in structures}) == 10
    originals = [small_set.structures[k % 3] for k in range(10)]
    assert crystal_systems(structures) == crystal_systems(originals)
    ratios = [s.volume / o.volume for s, o in zip(structures, originals, strict=True)]
    assert all(scale.SCALE_RANGE[0] <= r <= scale.SCALE_RANGE[1] for r in ratios)
    # Each target is its crystal's DOS on the finer grid.
    for k, row in enumerate(dos):
        np.testing.assert_allclose(
            row, np.interp(energies, small_set.energies, small_set.dos[k % 3])
        )


def test_the_set_is_seeded(scale, small_set):
    first, _, _ = scale.make_set(small_set, 7, seed=3)
    again, _, _ = scale.make_set(small_set, 7, seed=3)
    assert [structure_key(s) for s in first] == [structure_key(s) for s in again]
