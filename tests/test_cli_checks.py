"""The command line's warnings (:mod:`dos_estimators.cli.checks`), its zero-shot path
``--model POTENTIAL``, and the deprecated ``dos_estimators.cli_checks``."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from dos_estimators import cli
from dos_estimators.cli import checks, main
from dos_estimators.phonons import PhononCache, PhononModes, PotentialPhonons, modes_key
from dos_estimators.pretrained import ZERO_SHOT


def write(folder, name, structure):
    path = folder / name
    structure.to(filename=str(path))
    return path


def test_zero_shot_model_predicts_and_reports_modes_above_the_grid(tmp_path, capsys):
    # Modes put in the cache under SevenNet-0's key: no SevenNet calculation runs, the
    # command reads what the cache holds (the key is that of the structure the file holds).
    path = write(
        tmp_path, "cuau.cif", Structure(Lattice.cubic(3.0), ["Cu", "Au"], [[0] * 3, [0.5] * 3])
    )
    cuau = Structure.from_file(path)
    cache = tmp_path / "cache"
    settings = PotentialPhonons().settings
    modes = PhononModes(
        frequencies=np.array([150.0, 400.0, 1200.0]), weights=np.array([0.4, 0.3, 0.3])
    )
    PhononCache(cache).put(modes_key(cuau, "7net-0", settings), modes)
    out = tmp_path / "dos.csv"
    status = main(
        ["predict", str(path), "--model", "7net-0", "--cache", str(cache), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert status == 0
    frame = pd.read_csv(out)
    expected = modes.on_grid(np.linspace(0, 1000, 51), ZERO_SHOT["sigma"])
    np.testing.assert_allclose(frame.filter(like="dos_").to_numpy()[0], expected, atol=1e-5)
    assert "30% of its modes lie above the grid's top (1000 cm^-1), up to 1200 cm^-1" in err


def test_warnings_name_the_file(tmp_path, capsys):
    from conftest import tiny_dataset, tiny_transformer

    X, y = tiny_dataset()
    model = tiny_transformer().fit(X, y, energies=np.linspace(0, 1000, y.shape[1]))
    model_file = tmp_path / "model.safetensors"
    model.save(model_file)
    box = write(tmp_path, "box.cif", Structure(Lattice.cubic(30.0), ["Na"], [[0, 0, 0]]))
    close = write(
        tmp_path,
        "close.cif",
        Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.03, 0, 0]]),
    )
    status = main(["predict", str(box), str(close), "--model", str(model_file)])
    err = capsys.readouterr().err
    assert status == 0
    assert f"{box}: site(s) 0 have no neighbour within 5 Å" in err
    assert f"{close}: sites 0 and 1 are 0.15 Å apart, closer than 0.6 Å" in err


def test_prior_option_checks_the_model(tmp_path, capsys):
    from conftest import tiny_dataset, tiny_transformer

    X, y = tiny_dataset()
    model_file = tmp_path / "model.safetensors"
    tiny_transformer().fit(X, y).save(model_file)
    path = write(tmp_path, "x.cif", X[0])
    status = main(["predict", str(path), "--model", str(model_file), "--prior", "7net-l3i5"])
    assert status == 2
    assert "this model was fitted without a prior" in capsys.readouterr().err


def test_the_old_module_warns_and_re_exports_the_checks(monkeypatch):
    # A fresh import of the old path, whether or not another test imported it before.
    monkeypatch.delitem(sys.modules, "dos_estimators.cli_checks", raising=False)
    with pytest.warns(DeprecationWarning, match=r"import from dos_estimators\.cli\.checks"):
        old = importlib.import_module("dos_estimators.cli_checks")
    assert old.__all__ == checks.__all__
    for name in checks.__all__:
        assert getattr(old, name) is getattr(checks, name) is getattr(cli, name)
