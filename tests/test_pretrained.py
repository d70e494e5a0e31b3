"""The pretrained phonon model shipped inside the package."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from conftest import rock_salt

from dos_estimators import pretrained
from dos_estimators.cli import main
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.datasets._phonon import PHONON_DOS


def test_the_phonon_model_is_shipped_with_its_card():
    assert pretrained.available() == ["phonon"]
    assert pretrained.path("phonon").stat().st_size <= 10_000_000
    card = pretrained.card("phonon")
    assert card["command"].startswith("python benchmarks/pretrained.py")
    assert card["data"]["sha256"] == PHONON_DOS.sha256
    assert card["data"]["n_crystals"] == 1521
    assert len(card["reference"]["material_ids"]) == 20
    assert card["recipe"]["n_ensemble"] == 5
    model = pretrained.load("phonon")
    assert len(model.nets_) == 5
    np.testing.assert_allclose(model.energies_, np.linspace(0, 1000, 51))


def test_an_unknown_name_is_refused():
    with pytest.raises(ValueError, match="no pretrained model called 'electron'"):
        pretrained.load("electron")


def test_it_predicts_its_reference_crystals_as_when_it_was_built(shared_data_home):
    card = pretrained.card("phonon")
    data = load_phonon_dos(data_home=shared_data_home)
    index = {mp: i for i, mp in enumerate(data.material_ids)}
    chosen = [index[mp] for mp in card["reference"]["material_ids"]]
    mean, std = pretrained.load("phonon").predict(
        [data.structures[i] for i in chosen], return_std=True
    )
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
