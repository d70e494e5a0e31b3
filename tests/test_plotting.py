"""Figures of :mod:`dos_estimators.plotting`: panels, lines, saved PNGs and shape checks."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from dos_estimators.metrics import mae, mse
from dos_estimators.plotting import MAX_PANELS, plot_dos, plot_error_by_energy, plot_parity

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENERGIES = np.linspace(0, 1000, 12)


def _dos(n_samples, seed=0):
    return np.random.default_rng(seed).random((n_samples, ENERGIES.size))


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(PNG_SIGNATURE)


def test_plot_dos_draws_one_panel_per_crystal_with_band_and_saves_png(tmp_path):
    y_pred, y_true = _dos(4), _dos(4, seed=1)
    y_std = 0.1 * _dos(4, seed=2)
    path = tmp_path / "dos.png"
    figure = plot_dos(
        ENERGIES, y_pred, y_true, y_std, labels=list("abcd"), ncols=3, unit="cm^-1", path=path
    )
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4
    for i, ax in enumerate(figure.axes):
        assert len(ax.lines) == 2  # true and predicted
        np.testing.assert_allclose(ax.lines[1].get_ydata(), y_pred[i])
        np.testing.assert_allclose(ax.lines[0].get_ydata(), y_true[i])
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 1  # the ±std band
        assert ax.get_title() == "abcd"[i]
    assert figure.axes[-1].get_xlabel() == "frequency (cm$^{-1}$)"
    _assert_png(path)


def test_plot_dos_prediction_only_and_one_crystal_as_1d():
    figure = plot_dos(ENERGIES, _dos(1)[0])
    assert len(figure.axes) == 1
    (ax,) = figure.axes
    assert len(ax.lines) == 1 and not ax.collections
    assert ax.get_title() == "crystal 0"
    assert ax.get_xlabel() == "energy"


def test_plot_dos_stops_at_max_panels():
    figure = plot_dos(ENERGIES, _dos(MAX_PANELS + 3))
    assert len(figure.axes) == MAX_PANELS
    assert figure.get_suptitle() == f"first {MAX_PANELS} of {MAX_PANELS + 3} crystals"
    assert len(plot_dos(ENERGIES, _dos(5), max_panels=2).axes) == 2


def test_plot_parity_scatter_has_diagonal_and_metrics_in_title(tmp_path):
    y_true = _dos(5)
    y_pred = 0.8 * y_true
    path = tmp_path / "parity.png"
    figure = plot_parity(y_true, y_pred, path=path)
    assert len(figure.axes) == 1
    (ax,) = figure.axes
    assert len(ax.lines) == 1  # the diagonal
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, y)
    assert len(ax.collections[0].get_offsets()) == y_true.size
    assert ax.get_title().startswith(f"MSE = {mse(y_true, y_pred):.3g}, R² = ")
    _assert_png(path)


def test_plot_parity_bins_many_values_with_a_colour_bar(tmp_path):
    y_true = np.random.default_rng(0).random((200, 51))
    path = tmp_path / "parity.png"
    figure = plot_parity(y_true, y_true + 0.01, path=path)  # 10,200 values: hexbin
    assert len(figure.axes) == 2  # the plot and its colour bar
    assert len(plot_parity(_dos(3), _dos(3), kind="hexbin").axes) == 2
    _assert_png(path)


def test_plot_error_by_energy_gives_mse_and_mae_per_energy(tmp_path):
    y_true, y_pred = _dos(6), _dos(6, seed=1)
    path = tmp_path / "error.png"
    figure = plot_error_by_energy(ENERGIES, y_true, y_pred, path=path, unit="eV")
    assert len(figure.axes) == 2
    top, bottom = figure.axes
    assert len(top.lines) == 1 and len(bottom.lines) == 1
    np.testing.assert_allclose(top.lines[0].get_ydata(), ((y_pred - y_true) ** 2).mean(axis=0))
    np.testing.assert_allclose(bottom.lines[0].get_ydata(), np.abs(y_pred - y_true).mean(axis=0))
    assert top.get_title() == f"MSE over all = {mse(y_true, y_pred):.3g}"
    assert bottom.get_title() == f"MAE over all = {mae(y_true, y_pred):.3g}"
    assert bottom.get_xlabel() == "energy (eV)"
    _assert_png(path)


def test_figures_are_not_kept_by_pyplot():
    before = plt.get_fignums()
    with warnings.catch_warnings():
        # pyplot warns when more than 20 of its figures are open; ours are not its.
        warnings.simplefilter("error")
        for _ in range(25):
            plot_dos(ENERGIES, _dos(1))
    assert plt.get_fignums() == before


Y = _dos(3)
BAD_DOS_CALLS = {
    "energies 2-D": (lambda: plot_dos(ENERGIES[None], Y), "energies must be a 1-D"),
    "energies NaN": (lambda: plot_dos(np.r_[np.nan, ENERGIES[1:]], Y), "energies contains NaN"),
    "y_pred columns": (lambda: plot_dos(ENERGIES, Y[:, :-1]), "y_pred has 11 values"),
    "y_pred 3-D": (lambda: plot_dos(ENERGIES, Y[None]), r"y_pred must have shape"),
    "y_pred text": (lambda: plot_dos(ENERGIES, [["a"] * 12]), "y_pred must be a numeric"),
    "y_true rows": (lambda: plot_dos(ENERGIES, Y, y_true=Y[:2]), "y_true has shape"),
    "y_std rows": (lambda: plot_dos(ENERGIES, Y, y_std=Y[:1]), "y_std has shape"),
    "y_std negative": (lambda: plot_dos(ENERGIES, Y, y_std=-Y), "y_std must be non-negative"),
    "labels length": (lambda: plot_dos(ENERGIES, Y, labels=["a"]), "labels has 1 entries"),
    "labels string": (lambda: plot_dos(ENERGIES, Y, labels="abc"), "labels must be a sequence"),
    "ncols": (lambda: plot_dos(ENERGIES, Y, ncols=0), "ncols must be a positive integer"),
    "max_panels": (lambda: plot_dos(ENERGIES, Y, max_panels=1.5), "max_panels must be"),
    "parity shapes": (lambda: plot_parity(Y, Y[:2]), "y_true and y_pred must have the same"),
    "parity empty": (lambda: plot_parity([], []), "empty"),
    "parity NaN": (lambda: plot_parity(Y, np.full_like(Y, np.nan)), "y_pred contains NaN"),
    "parity kind": (lambda: plot_parity(Y, Y, kind="kde"), "kind must be"),
    "error shapes": (
        lambda: plot_error_by_energy(ENERGIES, Y, Y[:2]),
        "y_true and y_pred must have the same",
    ),
    "error energies": (
        lambda: plot_error_by_energy(ENERGIES[:5], Y, Y),
        "y_true has 12 values per crystal but energies has 5",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DOS_CALLS))
def test_bad_input_raises_a_value_error_naming_the_argument(case):
    call, message = BAD_DOS_CALLS[case]
    with pytest.raises(ValueError, match=message):
        call()


def test_spread_calibration_plot(tmp_path):
    from dos_estimators.plotting import plot_spread_calibration

    rng = np.random.default_rng(1)
    y_true = rng.random((12, 51))
    std = rng.random((12, 51))
    figure = plot_spread_calibration(y_true, y_true + std, std, tmp_path / "spread.png")
    assert len(figure.axes[0].collections[0].get_offsets()) == 12
    assert (tmp_path / "spread.png").read_bytes().startswith(b"\x89PNG")
