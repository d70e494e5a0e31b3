"""The pretrained phonon models shipped inside the package."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import rock_salt
from pymatgen.core import Structure

from dos_estimators import pretrained
from dos_estimators.cli import main
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.datasets._phonon import PHONON_DOS
from dos_estimators.phonons import PhononCache, PhononModes, modes_key

ROOT = Path(__file__).resolve().parents[1]
# The hybrid's prior of every crystal of the phonon set (benchmarks/priors.py).
PRIORS = ROOT / "benchmarks" / "data" / "phonon_priors_7net-l3i5.npz"
NAMES = ["phonon", "phonon-hybrid"]


def test_both_models_are_shipped():
    assert pretrained.available() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_model_is_shipped_with_its_card(name):
    assert pretrained.path(name).stat().st_size <= 10_000_000
    card = pretrained.card(name)
    assert card["command"].startswith("python benchmarks/pretrained.py")
    assert card["data"]["sha256"] == PHONON_DOS.sha256
    assert card["data"]["n_crystals"] == 1521
    assert len(card["reference"]["material_ids"]) == 20
    assert card["recipe"]["n_ensemble"] == 5
    model = pretrained.load(name)
    assert len(model.nets_) == 5
    np.testing.assert_allclose(model.energies_, np.linspace(0, 1000, 51))
    if name == "phonon":
        assert getattr(model, "prior_", None) is None
        return
    assert card["recipe"]["prior"]["potential"] == model.prior_.potential == "7net-l3i5"
    # The file names no folder of the machine that built it; load(cache=) gives the user's.
    assert model.prior_.cache is None
    assert pretrained.load(name, cache=PRIORS).prior_.cache == [PRIORS]
    # Its held-out crystals: the hybrid beats the potential it corrects.
    held = card["held_out"]
    assert held["mse_x10"] < held["zero_shot"]["mse_x10"]


def test_an_unknown_name_is_refused():
    with pytest.raises(ValueError, match="no pretrained model called 'electron'"):
        pretrained.load("electron")


@pytest.mark.parametrize("name", NAMES)
def test_it_predicts_its_reference_crystals_as_when_it_was_built(shared_data_home, name):
    card = pretrained.card(name)
    data = load_phonon_dos(data_home=shared_data_home)
    index = {mp: i for i, mp in enumerate(data.material_ids)}
    chosen = [index[mp] for mp in card["reference"]["material_ids"]]
    # The hybrid's priors of these crystals come from the repository's priors file.
    model = pretrained.load(name, cache=PRIORS)
    mean, std = model.predict([data.structures[i] for i in chosen], return_std=True)
    np.testing.assert_allclose(mean, card["reference"]["mean"], atol=1e-5)
    np.testing.assert_allclose(std, card["reference"]["std"], atol=1e-5)
    # On its own training crystals it is far better than predicting the mean spectrum.
    mean_spectrum = np.mean((data.dos - data.dos.mean(axis=0)) ** 2)
    assert card["training"]["mse_x10"] < 0.2 < 10 * mean_spectrum


def test_the_command_line_predicts_with_it(tmp_path, capsys):
    cif = tmp_path / "nacl.cif"
    rock_salt().to(filename=str(cif))
    status = main(["predict", str(cif), "--model", "phonon", "--quiet"])
    out, err = capsys.readouterr()
    assert status == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame["file"].tolist() == [str(cif)]
    assert len([c for c in frame.columns if c.startswith("std_")]) == 51


def test_the_command_line_predicts_with_the_hybrid(tmp_path, capsys):
    # Modes put in a cache folder under SevenNet-l3i5's key stand in for the potential's:
    # no SevenNet calculation runs (the key is that of the structure the file holds).
    cif = tmp_path / "nacl.cif"
    rock_salt().to(filename=str(cif))
    cache = tmp_path / "cache"
    prior = pretrained.load("phonon-hybrid").prior_
    modes = PhononModes(
        frequencies=np.array([120.0, 180.0, 260.0]), weights=np.array([0.5, 0.3, 0.2])
    )
    key = modes_key(Structure.from_file(cif), prior.potential, prior.settings)
    PhononCache(cache).put(key, modes)
    args = ["predict", str(cif), "--model", "phonon-hybrid", "--prior", "7net-l3i5"]
    status = main([*args, "--cache", str(cache), "--quiet"])
    out, err = capsys.readouterr()
    assert status == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert len([c for c in frame.columns if c.startswith("std_")]) == 51
    # The prior matters: other modes give another prediction.
    PhononCache(cache).put(key, PhononModes(frequencies=np.array([600.0]), weights=np.ones(1)))
    assert main([*args, "--cache", str(cache), "--quiet"]) == 0
    other = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert not np.allclose(other.filter(like="dos_"), frame.filter(like="dos_"), atol=1e-3)
