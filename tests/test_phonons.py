"""Universal-potential phonons: modes, grids, the cache, priors files, the transformer."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from conftest import benchmark_script
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.base import clone

from dos_estimators import phonons
from dos_estimators.phonons import (
    POTENTIALS,
    PhononCache,
    PhononModes,
    PotentialPhonons,
    modes_key,
    phonon_dos,
    read_priors,
    supercell_for,
    write_priors,
)

GRID = np.linspace(0.0, 400.0, 41)


def cu_au() -> Structure:
    """A two-atom CsCl-type CuAu cell, which EMT knows."""
    return Structure(Lattice.cubic(3.0), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def copper(a: float = 3.6):
    return AseAtomsAdaptor.get_structure(bulk("Cu", a=a))


def test_two_atom_crystal_has_six_modes_at_gamma_three_acoustic():
    modes = phonon_dos(cu_au(), EMT(), supercell_length=6.0)
    assert modes.gamma.shape == (6,)
    assert np.abs(modes.gamma[:3]).max() < 1.0
    assert modes.gamma[3:].min() > 50.0
    assert modes.supercell == (2, 2, 2)
    assert np.isclose(modes.weights.sum(), 1.0)
    assert modes.seconds > 0 and modes.n_displacements >= 1


def test_shipped_potential_gives_silicon_optical_mode():
    silicon = Structure(
        Lattice([[0, 2.715, 2.715], [2.715, 0, 2.715], [2.715, 2.715, 0]]),
        ["Si", "Si"],
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    )
    modes = phonon_dos(silicon, "7net-0", supercell_length=7.0)
    assert np.abs(modes.gamma[:3]).max() < 2.0
    # The measured optical mode at Γ is 517 cm⁻¹; universal potentials run soft.
    assert 350 < modes.gamma[3] < 600
    assert modes.imaginary_fraction == 0.0


def test_batched_supercells_give_the_forces_of_one_call_each():
    one = phonon_dos(cu_au(), "7net-0", supercell_length=5.0, batch_size=1)
    batched = phonon_dos(cu_au(), "7net-0", supercell_length=5.0, batch_size=2)
    assert one.n_displacements == batched.n_displacements == 2
    np.testing.assert_allclose(batched.frequencies, one.frequencies, atol=1e-3)


def test_chgnet_phonons_of_a_crystal_with_one_displacement():
    modes = phonon_dos(copper(), "chgnet-0.3.0", supercell_length=6.0)
    assert modes.n_displacements == 1 and modes.gamma.shape == (3,)
    assert np.abs(modes.gamma).max() < 2.0 and modes.frequencies.max() > 100.0


def test_a_calculator_without_parameters_cannot_be_cached(tmp_path):
    class Anonymous(EMT):
        def __init__(self):
            super().__init__()
            self.parameters = {}

    prior = PotentialPhonons(Anonymous(), cache=tmp_path, supercell_length=6.0)
    with pytest.raises(ValueError, match="cannot tell this Anonymous apart"):
        prior.fit(energies=GRID).transform([cu_au()])
    missing = PotentialPhonons(EMT(), cache=tmp_path / "nope.npz", supercell_length=6.0)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        missing.fit(energies=GRID).transform([cu_au()])


def test_on_grid_is_max_scaled_and_drops_imaginary_modes():
    modes = PhononModes(
        frequencies=np.array([-50.0, 100.0, 200.0]), weights=np.array([0.2, 0.4, 0.4])
    )
    dos = modes.on_grid(GRID, sigma=10.0)
    assert dos.max() == pytest.approx(1.0)
    assert dos[GRID == 0.0][0] < 1e-6  # nothing from the mode at -50 cm⁻¹
    assert modes.imaginary_fraction == pytest.approx(0.2)
    assert modes.fraction_above(150.0) == pytest.approx(0.4)
    assert modes.on_grid(GRID, sigma=10.0, scale=1.5).argmax() == np.abs(GRID - 150).argmin()


def test_supercell_meets_the_length_within_the_atom_limit():
    structure = cu_au()
    assert supercell_for(structure, 9.0, 160) == (3, 3, 3)  # 54 atoms
    assert np.prod(supercell_for(structure, 15.0, 160)) * 2 <= 160
    with pytest.raises(ValueError, match=r"CuAu.*2 atoms.*max_supercell_atoms=1"):
        supercell_for(structure, 9.0, 1)
    with pytest.raises(ValueError, match="max_supercell_atoms=1"):
        phonon_dos(structure, EMT(), max_supercell_atoms=1)


def test_unknown_potential_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown potential 'mace'.*'7net-l3i5'.*'chgnet-r2scan'"):
        phonon_dos(cu_au(), "mace")
    with pytest.raises(ValueError, match="ASE calculator"):
        phonon_dos(cu_au(), 3)
    assert set(POTENTIALS) == {"7net-l3i5", "7net-0", "7net-mf-0", "chgnet-0.3.0", "chgnet-r2scan"}


def test_unsupported_element_names_element_and_potential():
    polonium = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])
    with pytest.raises(ValueError, match=r"Po: potential '7net-0' was not trained on Po"):
        phonon_dos(polonium, "7net-0")


class CountingEMT(EMT):
    """EMT that counts its force calls."""

    calls = 0

    def calculate(self, *args, **kwargs):
        type(self).calls += 1
        super().calculate(*args, **kwargs)


def test_cache_hits_same_content_in_another_object_and_misses_after_a_setting(tmp_path):
    CountingEMT.calls = 0
    first = PotentialPhonons(CountingEMT(), cache=tmp_path, supercell_length=6.0)
    first.fit(energies=GRID).transform([cu_au()])
    computed = CountingEMT.calls
    assert computed >= 1 and len(list(tmp_path.glob("*.npz"))) == 1
    # The same crystal built anew, in another object, with others around it.
    again = PotentialPhonons(CountingEMT(), cache=str(tmp_path), supercell_length=6.0)
    out = again.fit(energies=GRID).transform([copper(), cu_au(), cu_au()])
    assert CountingEMT.calls == computed + 1  # only copper's one displacement
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_array_equal(out[1], first.transform([cu_au()])[0])
    changed = clone(again).set_params(mesh=10.0).fit(energies=GRID)
    changed.transform([cu_au()])
    assert CountingEMT.calls > computed + 1
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_priors_file_round_trip_matches_the_exact_modes(tmp_path):
    modes = [phonon_dos(s, EMT(), supercell_length=6.0) for s in (cu_au(), copper())]
    keys = [f"{k:032x}" for k in range(2)]
    path = tmp_path / "priors.npz"
    write_priors(path, keys, modes, material_ids=["a", "b"], metadata={"potential": "EMT"})
    back = read_priors(path)
    assert sorted(back) == keys
    for key, exact in zip(keys, modes, strict=True):
        binned = back[key].on_grid(GRID, 15.0)
        # The binning's error is small next to any model's (MSE x 10 of 0.1 and more).
        assert 10 * np.mean((binned - exact.on_grid(GRID, 15.0)) ** 2) < 0.003
        assert back[key].imaginary_fraction == pytest.approx(exact.imaginary_fraction, abs=1e-3)
        assert back[key].supercell == exact.supercell
    # A priors file serves as a (read-only) cache, ahead of a folder.
    cache = PhononCache([path, tmp_path / "folder"])
    assert cache.get(keys[0]) is not None and cache.folder == tmp_path / "folder"


def test_transform_channels_and_other_grid():
    prior = PotentialPhonons(EMT(), supercell_length=6.0).fit(energies=GRID)
    channels = prior.transform([cu_au()], sigma=[10.0, 20.0])
    assert channels.shape == (1, 41, 2)
    np.testing.assert_allclose(channels[..., 0], prior.transform([cu_au()], sigma=10.0))
    assert prior.transform([cu_au()], energies=np.arange(0, 500, 5.0)).shape == (1, 100)
    with pytest.raises(ValueError, match="energies="):
        PotentialPhonons(EMT()).fit([cu_au()])
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        PotentialPhonons(EMT(), sigma=0).fit(energies=GRID)


def test_keys_depend_on_content_potential_and_settings():
    settings = dict.fromkeys(phonons.SETTINGS, 1.0)
    key = modes_key(cu_au(), "7net-0", settings)
    assert key == modes_key(cu_au(), "7net-0", settings)
    assert key != modes_key(cu_au(), "7net-l3i5", settings)
    assert key != modes_key(cu_au(), "7net-0", {**settings, "mesh": 2.0})
    assert key != modes_key(copper(), "7net-0", settings)


def test_dask_backend_runs_crystals_on_the_cluster_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    import joblib

    structures = [copper(a) for a in (3.5, 3.6, 3.7)]
    expected = PotentialPhonons(EMT(), supercell_length=6.0).fit(energies=GRID)
    expected = expected.transform(structures)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with joblib.parallel_backend("dask"):
            prior = PotentialPhonons(EMT(), supercell_length=6.0, n_jobs=2, cache=tmp_path)
            out = prior.fit(energies=GRID).transform(structures)
        workers = client.run(lambda: 1)
    assert len(workers) == 2
    np.testing.assert_allclose(out, expected)
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_priors_benchmark_resumes_after_an_interruption(tmp_path, monkeypatch):
    from sklearn.utils import Bunch

    priors = benchmark_script("priors")
    structures = [copper(3.5 + 0.02 * k) for k in range(10)]
    data = Bunch(structures=structures, material_ids=[f"mp-{k}" for k in range(10)])
    monkeypatch.setattr(priors, "load_phonon_dos", lambda data_home=None: data)
    args = argparse.Namespace(
        potential=EMT(),
        data_home=None,
        cache=str(tmp_path / "cache"),
        out=str(tmp_path / "priors.npz"),
        limit=None,
        write_every=1,
        max_supercell_atoms=27,
        device="cpu",
        batch_size=None,
        shard="0/1",
    )
    real = priors.PotentialPhonons.modes
    calls = []

    def interrupted(self, X):
        calls.append(len(X))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, X)

    monkeypatch.setattr(priors.PotentialPhonons, "modes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        priors.compute(args)
    assert len(read_priors(args.out)) == 3
    monkeypatch.setattr(priors.PotentialPhonons, "modes", real)
    computed = []
    monkeypatch.setattr(
        priors.PotentialPhonons,
        "modes",
        lambda self, X: computed.append(1) or real(self, X),
    )
    priors.compute(args)
    assert len(computed) == 7  # the three done before the interruption are skipped
    stored = read_priors(args.out)
    assert len(stored) == 10
    figures = priors.figures(priors.Path(args.out))
    assert figures["crystals"] == 10 and figures["seconds_median"] > 0
    # The same crystals keyed otherwise (by another numpy's positions, say): the
    # material ids re-key the rows, and nothing is computed again or dropped.
    rows = priors.stored_rows(priors.Path(args.out))
    write_priors(
        args.out,
        [f"{k:032x}" for k in range(10)],
        [row[2] for row in rows],
        material_ids=[row[1] for row in rows],
        metadata=priors.priors_metadata(args.out),
    )
    computed.clear()
    priors.compute(args)
    assert not computed and set(read_priors(args.out)) == set(stored)


def test_transform_takes_one_frequency_scale_per_crystal(tmp_path):
    structures = [copper(3.6), copper(3.7)]
    prior = PotentialPhonons(EMT(), supercell_length=6.0, cache=tmp_path).fit(energies=GRID)
    each = [prior.transform([s], scale=f)[0] for s, f in zip(structures, (0.9, 1.1), strict=True)]
    np.testing.assert_allclose(prior.transform(structures, scale=[0.9, 1.1]), np.array(each))
    assert not np.allclose(each[0], prior.transform(structures[:1])[0])
    with pytest.raises(ValueError, match=r"one per crystal \(2\), got shape \(3,\)"):
        prior.transform(structures, scale=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="scale must be a positive number"):
        prior.transform(structures, scale=0.0)
