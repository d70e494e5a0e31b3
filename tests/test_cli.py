"""The ``dos-estimators`` command line (:mod:`dos_estimators.cli`): ``main(argv)`` in-process
for ``predict``, ``fit`` and ``plot``, the console script and ``python -m``.

One tiny two-member DOSTransformer (16 wide, 1 epoch) on :func:`conftest.tiny_dataset`
with a 0–1000 cm⁻¹ grid is fitted per module and saved; structure files of the small
crystals of conftest, and one garbage file, are written into a temporary folder.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build, tiny_dataset, tiny_transformer
from pymatgen.core import Structure

from dos_estimators import DOSTransformerRegressor, MLPDOSRegressor, __version__, load_model
from dos_estimators.cli import main
from dos_estimators.cli.plot import _unique_png_names
from dos_estimators.cli.predict import _labels

# One epoch ends every fit at its best epoch so far: the ConvergenceWarning is expected.
# Predicting crystals of systems the tiny training set lacks warns too.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:.*crystal systems that training never saw:UserWarning"),
    # pymatgen reading back the CIF files it wrote.
    pytest.mark.filterwarnings("ignore:Issues encountered while parsing CIF:UserWarning"),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = np.linspace(0, 1000, 12)
# File name: crystal of conftest, written by pymatgen (the format follows the name).
FILES = {"nacl.cif": "rock_salt", "POSCAR_diamond": "diamond", "zno.cif": "wurtzite"}


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory):
    """A saved two-member DOSTransformer on a frequency grid of 12 points, 0–1000 cm⁻¹."""
    structures, y = tiny_dataset()
    model = tiny_transformer(n_ensemble=2, max_epochs=1, patience=None)
    model.fit(structures, y, energies=GRID)
    path = tmp_path_factory.mktemp("model") / "ensemble.safetensors"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def index_grid_file(tmp_path_factory):
    """A saved one-network MLP fitted without energies: its grid is the column index."""
    structures, y = tiny_dataset()
    model = MLPDOSRegressor(hidden=16, max_epochs=1, patience=None, random_state=0)
    path = tmp_path_factory.mktemp("model") / "index.safetensors"
    model.fit(structures, y).save(path)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with the three structure files of FILES and ``garbage.cif``."""
    folder = tmp_path_factory.mktemp("structures")
    for name, crystal in FILES.items():
        build(crystal).to(filename=str(folder / name))
    (folder / "garbage.cif").write_text("this is not a crystal\n")
    return folder


def _run(argv, capsys):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _columns(frame, prefix):
    return [column for column in frame.columns if column.startswith(prefix)]


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def test_predict_writes_dos_std_thermo_and_plots_and_skips_a_bad_file(
    ensemble_file, inputs, tmp_path, capsys
):
    files = [inputs / name for name in FILES] + [inputs / "garbage.cif"]
    csv, plots = tmp_path / "preds.csv", tmp_path / "plots"
    status, out, err = _run(
        ["predict", *files, "--model", ensemble_file, "--out", csv, "--plot", plots]
        + ["--thermo", "300,600"],
        capsys,
    )
    assert status == 1  # the garbage file failed
    assert "garbage.cif" in err and "cannot read a structure" in err
    assert out == ""

    frame = pd.read_csv(csv)
    assert frame["file"].tolist() == [str(inputs / name) for name in FILES]
    dos_columns, std_columns = _columns(frame, "dos_"), _columns(frame, "std_")
    assert dos_columns == [f"dos_{e:g}" for e in GRID]
    assert std_columns == [f"std_{e:g}" for e in GRID]
    thermo_columns = [
        f"{quantity}_{t}K" for quantity in ("cv", "entropy", "free_energy") for t in (300, 600)
    ] + ["zpe"]
    assert list(frame.columns) == ["file", *dos_columns, *std_columns, *thermo_columns]

    # The CSV holds what the loaded model predicts for the structures pymatgen reads.
    model = load_model(ensemble_file)
    structures = [Structure.from_file(inputs / name) for name in FILES]
    mean, std = model.predict(structures, return_std=True)
    np.testing.assert_allclose(frame[dos_columns].to_numpy(), mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(frame[std_columns].to_numpy(), std, rtol=1e-5, atol=1e-7)
    assert (frame[std_columns].to_numpy() > 0).any()

    thermo = frame[thermo_columns].to_numpy()
    assert np.isfinite(thermo).all()
    for quantity in ("cv_300K", "cv_600K", "entropy_300K", "entropy_600K", "zpe"):
        assert (frame[quantity] > 0).all(), quantity
    # Heating adds heat capacity and entropy and lowers the free energy below the ZPE.
    assert (frame["cv_600K"] > frame["cv_300K"]).all()
    assert (frame["entropy_600K"] > frame["entropy_300K"]).all()
    assert (frame["free_energy_300K"] < frame["zpe"]).all()
    # At most 3R per atom: 3 N R per mole of cells.
    n_atoms = np.array([len(structure) for structure in structures])
    assert (frame["cv_600K"] <= 3 * 8.3145 * n_atoms).all()

    pngs = sorted(path.name for path in plots.iterdir())
    assert pngs == sorted(f"{name}.png" for name in FILES)
    for png in pngs:
        _assert_png(plots / png)


def test_predict_a_folder_to_stdout_in_name_order(ensemble_file, inputs, tmp_path, capsys):
    folder = tmp_path / "good"
    folder.mkdir()
    for name in ("zno.cif", "nacl.cif"):
        shutil.copy(inputs / name, folder / name)
    (folder / ".hidden.cif").write_text("skipped: hidden\n")
    status, out, err = _run(["predict", folder, "--model", ensemble_file, "--quiet"], capsys)
    assert status == 0, err
    assert err == ""
    frame = pd.read_csv(pd.io.common.StringIO(out))
    assert frame["file"].tolist() == [str(folder / "nacl.cif"), str(folder / "zno.cif")]
    assert len(_columns(frame, "dos_")) == len(_columns(frame, "std_")) == GRID.size


def test_predict_reports_missing_paths_and_empty_folders(ensemble_file, inputs, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, out, err = _run(
        ["predict", inputs / "nacl.cif", tmp_path / "nowhere.cif", tmp_path / "empty"]
        + ["--model", ensemble_file, "--out", "-"],
        capsys,
    )
    assert status == 1
    assert "nowhere.cif: no such file or folder" in err
    assert "empty: the folder holds no files" in err
    assert len(pd.read_csv(pd.io.common.StringIO(out))) == 1


def test_predict_names_the_structure_the_model_cannot_take(
    ensemble_file, inputs, tmp_path, capsys, monkeypatch
):
    original = DOSTransformerRegressor.predict

    def refuse_four_atoms(self, X, *args, **kwargs):
        if any(len(structure) == 4 for structure in X):
            raise ValueError("four atoms are not allowed")
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(DOSTransformerRegressor, "predict", refuse_four_atoms)
    csv = tmp_path / "preds.csv"
    files = [inputs / name for name in FILES]
    status, _, err = _run(["predict", *files, "--model", ensemble_file, "--out", csv], capsys)
    assert status == 1
    assert "zno.cif: the model cannot predict it (ValueError: four atoms" in err
    assert pd.read_csv(csv)["file"].tolist() == [str(files[0]), str(files[1])]


def test_plot_writes_one_png_per_file(ensemble_file, inputs, tmp_path, capsys):
    out = tmp_path / "plots"
    status, stdout, err = _run(
        ["plot", "--model", ensemble_file, inputs / "nacl.cif", inputs / "zno.cif"]
        + ["--out", out],
        capsys,
    )
    assert status == 0, err
    assert stdout == ""
    assert sorted(path.name for path in out.iterdir()) == ["nacl.cif.png", "zno.cif.png"]
    _assert_png(out / "zno.cif.png")


def test_thermo_of_a_model_without_frequencies_needs_frequencies(
    index_grid_file, inputs, tmp_path, capsys
):
    argv = ["predict", inputs / "nacl.cif", "--model", index_grid_file, "--thermo", "300"]
    status, _, err = _run(argv, capsys)
    assert status == 2
    assert "--frequencies" in err and "column index" in err

    csv = tmp_path / "preds.csv"
    status, _, err = _run(argv + ["--frequencies", "0,1000", "--out", csv], capsys)
    assert status == 0, err
    frame = pd.read_csv(csv)
    assert _columns(frame, "dos_") == [f"dos_{e:g}" for e in GRID]
    assert _columns(frame, "std_") == []  # one network: no spread
    assert (frame[["cv_300K", "entropy_300K", "zpe"]] > 0).all(axis=None)


def test_frequencies_cannot_replace_a_model_grid(ensemble_file, inputs, capsys):
    status, _, err = _run(
        ["predict", inputs / "nacl.cif", "--model", ensemble_file, "--frequencies", "0,500"],
        capsys,
    )
    assert status == 2
    assert "already runs from 0 to 1000" in err


FIT = ["fit", "--data", "phonon", "--out", "{tmp}/m"]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: COMMAND"),
        (["predict", "x.cif"], "required: --model"),
        (["predict", "x.cif", "--model", "{tmp}/missing.safetensors"], "missing.safetensors' not"),
        (["predict", "x.cif", "--model", "{model}", "--thermo", "-5"], "must be >= 0 K"),
        (["predict", "x.cif", "--model", "{model}", "--thermo", "warm"], "comma-separated"),
        (["predict", "x.cif", "--model", "{model}", "--frequencies", "5"], "START,STOP"),
        (["predict", "x.cif", "--model", "{model}", "--thermo", "300,300"], "each temperature"),
        (["predict", "x.cif", "--model", "{model}", "--device", "gpu"], "not a torch device"),
        (
            ["fit", "--data", "phonon", "--estimator", "forest", "--out", "{tmp}/m"],
            "invalid choice",
        ),
        ([*FIT, "--param", "hidden"], "NAME=VALUE"),
        ([*FIT, "--param", "hiden=16"], "'hiden'"),
        ([*FIT, "--param", "hidden=-1"], "hidden must be"),
        ([*FIT, "--param", "device=cuda"], "--device"),
        ([*FIT, "--param", "callbacks=[]"], "callbacks"),
        (["fit", "--data", "phonon", "--out", "{tmp}/no/such/folder/m"], "does not exist"),
        (["fit", "--data", "no_such_file.jsonl", "--out", "{tmp}/m"], "no_such_file.jsonl"),
        ([*FIT, "--limit", "0"], "positive integer"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv, message, ensemble_file, tmp_path, capsys):
    argv = [arg.format(model=ensemble_file, tmp=tmp_path) for arg in argv]
    status, out, err = _run(argv, capsys)
    assert status == 2
    assert message in err
    assert out == ""


def test_unknown_param_names_it_and_suggests_the_close_one(capsys):
    status, _, err = _run(
        ["fit", "--data", "phonon", "--param", "hiden=16", "--out", "{tmp}/m"], capsys
    )
    assert status == 2
    assert "DOSTransformerRegressor has no parameter 'hiden'; did you mean 'hidden'?" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_a_device_the_machine_lacks_is_a_usage_error(capsys):
    status, _, err = _run(["predict", "x.cif", "--model", "m", "--device", "cuda"], capsys)
    assert status == 2
    assert "this machine has no cuda device" in err


def test_an_invalid_model_file_is_a_usage_error(tmp_path, capsys):
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"\x00" * 64)
    status, _, err = _run(["predict", "x.cif", "--model", bogus], capsys)
    assert status == 2
    assert "bogus.safetensors" in err


@pytest.mark.parametrize("command", [None, "predict", "fit", "plot"])
def test_help_of_each_command(command, capsys):
    status, out, _ = _run([command, "--help"] if command else ["--help"], capsys)
    assert status == 0
    assert out.startswith(f"usage: dos-estimators{' ' + command if command else ''}")


def test_version(capsys):
    status, out, _ = _run(["--version"], capsys)
    assert (status, out) == (0, f"dos-estimators {__version__}\n")


def test_console_script_help():
    script = Path(sys.executable).with_name("dos-estimators")
    if not script.is_file():
        pytest.skip("the dos-estimators console script is not installed (pip install -e .)")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dos-estimators")
    for command in ("predict", "fit", "plot"):
        assert command in result.stdout


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "dos_estimators.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"dos-estimators {__version__}\n"


def _write_electron_jsonl(path, n=8):
    """``n`` tiny crystals with a Gaussian electron DOS each, in load_electron_dos's format."""
    structures, _ = tiny_dataset()
    energies = np.linspace(-10, 10, 401)
    rng = np.random.default_rng(0)
    with path.open("w") as lines:
        for i, structure in enumerate(structures[:n]):
            centre = rng.uniform(-3, 3)
            densities = np.exp(-(((energies - centre) / 1.5) ** 2))
            record = {
                "mp_id": f"tiny-{i}",
                "structure": structure.as_dict(),
                "energies": energies.tolist(),
                "densities": densities.tolist(),
                "efermi": 0.0,
            }
            lines.write(json.dumps(record) + "\n")


def test_fit_on_a_jsonl_file_saves_a_model_that_predicts(inputs, tmp_path, capsys):
    data = tmp_path / "tiny.jsonl"
    _write_electron_jsonl(data)
    out = tmp_path / "electron.safetensors"
    status, _, err = _run(
        ["fit", "--data", data, "--estimator", "mlp", "--limit", 6, "--out", out, "--quiet"]
        + ["--param", "hidden=16", "--param", "max_epochs=1", "--param", "patience=null"]
        + ["--param", "random_state=0", "--param", "pooling=mean"],
        capsys,
    )
    assert status == 0, err
    model = load_model(out)
    assert isinstance(model, MLPDOSRegressor)
    assert (model.hidden, model.pooling, model.patience) == (16, "mean", None)
    assert model.energies_[0] == -5 and model.energies_[-1] == 5  # DOSGrid's default window
    assert model.predict([build("mgo")]).shape == (1, model.energies_.size)

    # An electron grid starts below zero: no phonon thermodynamics.
    status, _, err = _run(
        ["predict", inputs / "nacl.cif", "--model", out, "--thermo", "300"], capsys
    )
    assert status == 2 and "needs a phonon model" in err


@pytest.mark.slow
def test_fit_on_the_phonon_set(shared_data_home, inputs, tmp_path, capsys):
    out = tmp_path / "phonon.safetensors"
    status, stdout, err = _run(
        ["fit", "--data", "phonon", "--data-home", shared_data_home, "--limit", 30]
        + ["--param", "hidden=16", "--param", "max_epochs=1", "--param", "n_gnn_layers=1"]
        + ["--param", "random_state=0", "--out", out],
        capsys,
    )
    assert status == 0, err
    assert "fitting DOSTransformerRegressor on 30" in err
    assert "epoch" in stdout  # skorch's table, without --quiet
    model = load_model(out)
    assert (model.hidden, model.max_epochs) == (16, 1)
    np.testing.assert_array_equal(model.energies_, np.linspace(0, 1000, 51))
    assert model.predict([build("rock_salt")]).shape == (1, 51)

    # The saved phonon model's grid is in cm^-1: --thermo works without --frequencies.
    csv = tmp_path / "preds.csv"
    status, _, err = _run(
        ["predict", inputs / "nacl.cif", "--model", out, "--thermo", "300", "--out", csv],
        capsys,
    )
    assert status == 0, err
    assert list(pd.read_csv(csv).columns[-4:]) == [
        "cv_300K",
        "entropy_300K",
        "free_energy_300K",
        "zpe",
    ]


def test_column_labels_and_png_names_stay_unique():
    assert _labels([0.0, 90.909090909, 1000.0]) == ["0", "90.9091", "1000"]
    assert _labels([1.0, 1.0000001]) == ["1", "1.0000001"]
    assert _labels([-5.0, -4.95]) == ["-5", "-4.95"]
    assert _unique_png_names(["a/x.cif", "b/x.cif", "y.cif"]) == [
        "x.cif.png",
        "x.cif-2.png",
        "y.cif.png",
    ]
