"""Tests for dos_estimators.spectra: grid placement, spins, reference, smoothing, scale, errors."""

import numpy as np
import pandas as pd
import pytest
from conftest import build
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import CompleteDos, Dos
from scipy.signal import savgol_filter
from sklearn.base import clone

from dos_estimators.spectra import DOSGrid, valence_band_maximum

FINE = np.linspace(-10.0, 10.0, 2001)  # 0.01 eV steps, like the GPAW set
GRID = np.linspace(-5.0, 5.0, 201)


def gaussian(energies, centre, width=0.1, height=1.0):
    return height * np.exp(-0.5 * ((energies - centre) / width) ** 2)


def gapped(energies, vbm, cbm):
    """A DOS with a valence band below ``vbm`` and a conduction band above ``cbm``."""
    return np.where(energies <= vbm, 1.0 + 0.1 * (vbm - energies), 0.0) + np.where(
        energies >= cbm, 2.0, 0.0
    )


RAW = {"smoothing": None, "scale": None}


# ---------------------------------------------------------------- grid placement


def test_default_grid():
    grid = DOSGrid()
    np.testing.assert_allclose(grid.energies, GRID)
    assert grid.fit() is grid
    np.testing.assert_array_equal(grid.energies_, grid.energies)
    assert np.diff(grid.energies)[0] == pytest.approx(0.05)


@pytest.mark.parametrize("efermi", [0.0, 3.7, -6.2])
def test_gaussian_peak_lands_on_its_energy(efermi):
    energies = FINE + efermi
    densities = gaussian(energies, efermi + 1.3)
    y = DOSGrid(smoothing=None).transform([(energies, densities, efermi)])[0]
    k = int(np.argmax(y))
    assert GRID[k] == pytest.approx(1.3)
    assert y[k] == 1.0
    # Symmetric about 1.3 eV: the neighbours 50 meV either side are equal.
    assert y[k - 1] == pytest.approx(y[k + 1], rel=1e-9)
    assert y[k - 1] < y[k]


def test_off_grid_peak_keeps_its_centre_and_area():
    densities = gaussian(FINE, 1.32, width=0.05)
    y = DOSGrid(**RAW).transform([(FINE, densities, 0.0)])[0]
    step = 0.05
    assert np.sum(y) * step == pytest.approx(0.05 * np.sqrt(2 * np.pi), rel=1e-6)
    assert np.sum(GRID * y) / np.sum(y) == pytest.approx(1.32, abs=1e-6)


def test_linear_density_is_reproduced_exactly():
    # The bin average of a linear function is its value at the bin centre.
    densities = 3.0 + 0.2 * FINE
    y = DOSGrid(**RAW).transform([(FINE, densities, 1.0)])[0]
    np.testing.assert_allclose(y, 3.0 + 0.2 * (GRID + 1.0), rtol=1e-12)


def test_narrow_spike_between_grid_points_is_kept():
    # One-sample spike at 0.52 eV: point interpolation at 0.50 and 0.55 would see nothing.
    densities = np.zeros_like(FINE)
    spike = int(np.argmin(np.abs(FINE - 0.52)))
    densities[spike] = 10.0
    assert np.interp(GRID, FINE, densities).max() == 0.0
    y = DOSGrid(**RAW).transform([(FINE, densities, 0.0)])[0]
    assert np.sum(y) * 0.05 == pytest.approx(10.0 * 0.01)  # the spike's area
    assert GRID[np.argmax(y)] == pytest.approx(0.5)


def test_coarse_data_is_close_to_linear_interpolation():
    coarse = np.linspace(-8.0, 8.0, 81)  # 0.2 eV steps, four times coarser than the grid
    densities = 2.0 + np.sin(coarse)
    y = DOSGrid(**RAW).transform([(coarse, densities, 0.0)])[0]
    np.testing.assert_allclose(y, np.interp(GRID, coarse, densities), atol=3e-3)


def test_window_equal_to_data_range():
    # Data exactly on [-5, 5]: the outer bins are cut at the data's ends, so they average
    # over the inner half-bin only (centred 12.5 meV inside).
    densities = 3.0 + 0.5 * GRID
    y = DOSGrid(**RAW).transform([(GRID, densities, 0.0)])[0]
    np.testing.assert_allclose(y[1:-1], densities[1:-1], rtol=1e-12)
    assert y[0] == pytest.approx(3.0 + 0.5 * (-5.0 + 0.0125))
    assert y[-1] == pytest.approx(3.0 + 0.5 * (5.0 - 0.0125))


def test_each_sample_may_have_its_own_energies():
    other = np.linspace(-7.0, 9.0, 333)
    samples = [(FINE, gaussian(FINE, 0.4), 0.0), (other, gaussian(other, 1.4), 1.0)]
    y = DOSGrid(smoothing=None).transform(samples)
    assert GRID[np.argmax(y[0])] == pytest.approx(0.4)
    assert GRID[np.argmax(y[1])] == pytest.approx(0.4)
    assert y[0] == pytest.approx(y[1], abs=0.02)


def test_custom_grid():
    grid = DOSGrid(emin=-2.0, emax=3.0, n_points=51, smoothing=(5, 2))
    y = grid.transform([(FINE, gaussian(FINE, 2.2, 0.3), 0.0)])
    assert y.shape == (1, 51)
    assert grid.energies[np.argmax(y[0])] == pytest.approx(2.2)


# ---------------------------------------------------------------- spins and input forms


def test_spins_are_summed_in_every_input_form():
    up = gaussian(FINE, -1.0, 0.3)
    down = 2.0 * gaussian(FINE, 1.5, 0.3)
    total = up + down
    dos = Dos(0.0, FINE, {Spin.up: up, Spin.down: down})
    complete = CompleteDos(build("diamond"), dos, {})
    samples = [
        (FINE, total, 0.0),
        dos,
        complete,
        (FINE, {Spin.up: up, Spin.down: down}, 0.0),
        (FINE, {"1": up.tolist(), "-1": down.tolist()}, 0.0),
        (FINE, np.vstack([up, down]), 0.0),
        [FINE.tolist(), [up.tolist(), down.tolist()], 0.0],
    ]
    y = DOSGrid(scale=None).transform(samples)
    for row in y[1:]:
        np.testing.assert_allclose(row, y[0], rtol=1e-12)
    # Summed, not averaged: the spin-down peak (height 2) dominates.
    up_only = DOSGrid(scale=None).transform([(FINE, up, 0.0)])[0]
    assert y[0].max() > up_only.max()
    assert GRID[np.argmax(y[0])] == pytest.approx(1.5)


def test_spin_unpolarised_pymatgen_dos():
    dos = Dos(0.5, FINE, {Spin.up: gaussian(FINE, 2.0)})
    y = DOSGrid(smoothing=None).transform([dos])
    assert GRID[np.argmax(y[0])] == pytest.approx(1.5)


def test_generator_input():
    y = DOSGrid().transform((FINE, gaussian(FINE, c), 0.0) for c in (0.0, 1.0))
    assert y.shape == (2, 201)


# ---------------------------------------------------------------- reference energy


def test_fermi_reference_is_shift_invariant():
    densities = gapped(FINE, -0.4, 0.9)
    y = DOSGrid().transform([(FINE, densities, 0.2), (FINE + 7.5, densities, 7.7)])
    np.testing.assert_allclose(y[0], y[1], atol=1e-9)


def test_vbm_reference_puts_the_valence_band_top_at_zero():
    vbm, cbm, efermi = 1.0, 2.5, 1.75  # a 1.5 eV gap, Fermi level mid-gap
    densities = gapped(FINE, vbm, cbm)
    sample = [(FINE, densities, efermi)]
    by_vbm = DOSGrid(reference="vbm", **RAW).transform(sample)[0]
    by_fermi = DOSGrid(**RAW).transform(sample)[0]
    assert valence_band_maximum(FINE, densities, efermi) == pytest.approx(vbm)
    inside_gap = (GRID > 0.05) & (GRID < 1.45)
    assert (by_vbm[inside_gap] == 0).all()
    assert (by_vbm[GRID < -0.05] > 0).all()
    assert (by_vbm[GRID > 1.55] > 0).all()
    # Relative to the Fermi level the same gap spans -0.75 .. 0.75 eV.
    assert (by_fermi[(GRID > -0.7) & (GRID < 0.7)] == 0).all()
    shift = int(round(0.75 / 0.05))
    np.testing.assert_allclose(by_vbm[20:-20], by_fermi[20 - shift : -20 - shift], atol=1e-9)


def test_vbm_reference_falls_back_to_fermi_for_metals():
    densities = 1.0 + gaussian(FINE, 0.3)
    assert valence_band_maximum(FINE, densities, 0.0) is None
    sample = [(FINE, densities, 0.0)]
    np.testing.assert_array_equal(
        DOSGrid(reference="vbm").transform(sample), DOSGrid().transform(sample)
    )


def test_vbm_tolerance_ignores_broadening_tails():
    # Tails below 1e-3 of the maximum count as gap; a larger tolerance cuts deeper.
    densities = gapped(FINE, 0.0, 2.0) + 1e-4
    assert valence_band_maximum(FINE, densities, 1.0) == pytest.approx(0.0)
    assert valence_band_maximum(FINE, densities, 1.0, tol=0.0) is None
    tail = gaussian(FINE, 0.0, 0.1, height=2.0) * (FINE > 0)
    broadened = gapped(FINE, 0.0, 2.0) + tail
    found = valence_band_maximum(FINE, broadened, 1.0)
    assert 0.3 < found < 0.45  # the 1e-3 level of a Gaussian tail of width 0.1 eV
    assert valence_band_maximum(FINE, broadened, 1.0, tol=0.2) < found


def test_reference_none_uses_energies_as_given():
    densities = gaussian(FINE, 2.0)
    y = DOSGrid(reference=None, smoothing=None).transform([(FINE, densities, None)])
    assert GRID[np.argmax(y[0])] == pytest.approx(2.0)


# ---------------------------------------------------------------- smoothing, clipping, scale


def test_smoothing_is_savgol_then_clip_then_max_scale():
    rng = np.random.default_rng(0)
    densities = 1.0 + gaussian(FINE, 0.5, 0.5) + 0.3 * rng.standard_normal(FINE.size)
    sample = [(FINE, np.abs(densities), 0.0)]
    raw = DOSGrid(**RAW).transform(sample)[0]
    expected = np.maximum(savgol_filter(raw, 17, 1), 0.0)
    expected /= expected.max()
    np.testing.assert_allclose(DOSGrid().transform(sample)[0], expected, rtol=1e-12)
    unsmoothed = DOSGrid(smoothing=None).transform(sample)[0]
    assert np.std(np.diff(DOSGrid().transform(sample)[0])) < 0.5 * np.std(np.diff(unsmoothed))


def test_smoothing_off_keeps_a_sharp_peak():
    sample = [(FINE, gaussian(FINE, 0.0, 0.05), 0.0)]
    sharp = DOSGrid(smoothing=None).transform(sample)[0]
    smooth = DOSGrid().transform(sample)[0]
    assert np.count_nonzero(sharp > 0.5) < np.count_nonzero(smooth > 0.5)


def test_negative_values_are_clipped():
    # A step smoothed with a cubic overshoots below zero; the input may be negative too.
    densities = np.where(FINE > 0, 1.0, 0.0) - 0.05
    sample = [(FINE, densities, 0.0)]
    raw = DOSGrid(**RAW).transform(sample)[0]
    assert (savgol_filter(raw, 17, 3) < 0).any()
    for smoothing in (None, (17, 3)):
        y = DOSGrid(smoothing=smoothing, scale=None).transform(sample)[0]
        assert y.min() == 0.0
        assert (y[GRID < -1] == 0).all()


def test_max_scale_and_no_scale():
    densities = np.full(FINE.size, 2.5)
    scaled = DOSGrid().transform([(FINE, densities, 0.0), (FINE, 4 * densities, 0.0)])
    np.testing.assert_allclose(scaled, 1.0)
    unscaled = DOSGrid(scale=None).transform([(FINE, densities, 0.0)])
    np.testing.assert_allclose(unscaled, 2.5)


def test_all_zero_spectrum_without_scaling_is_allowed():
    y = DOSGrid(scale=None).transform([(FINE, np.zeros_like(FINE), 0.0)])
    np.testing.assert_array_equal(y, 0.0)


# ---------------------------------------------------------------- scikit-learn API


def test_sklearn_api():
    grid = DOSGrid(n_points=51, reference="vbm")
    copy = clone(grid)
    assert copy.get_params() == grid.get_params()
    assert not hasattr(copy, "energies_")
    assert grid.__sklearn_tags__().requires_fit is False
    # transform works without fit; fit_transform gives the same.
    samples = [(FINE, gapped(FINE, -0.5, 1.0), 0.2)]
    np.testing.assert_array_equal(grid.transform(samples), clone(grid).fit_transform(samples))


def test_feature_names_are_grid_energies():
    names = DOSGrid().get_feature_names_out()
    assert names.shape == (201,)
    assert names[0] == "-5" and names[100] == "0" and names[126] == "1.3" and names[-1] == "5"
    assert len(set(names)) == 201
    np.testing.assert_allclose(names.astype(float), GRID, atol=1e-9)


def test_pandas_output():
    grid = DOSGrid(n_points=21, smoothing=None).set_output(transform="pandas")
    frame = grid.fit_transform([(FINE, gaussian(FINE, 1.0), 0.0)])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(grid.get_feature_names_out())
    assert frame.shape == (1, 21)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"emin": 5.0, "emax": -5.0}, "emin must be smaller than emax"),
        ({"emin": 1.0, "emax": 1.0}, "emin must be smaller than emax"),
        ({"emin": float("nan")}, "emin must be a finite number"),
        ({"emax": "5"}, "emax must be a finite number"),
        ({"n_points": 1}, "n_points must be an integer >= 2"),
        ({"n_points": 20.5}, "n_points must be an integer >= 2"),
        ({"n_points": True}, "n_points must be an integer >= 2"),
        ({"reference": "cbm"}, "reference must be 'fermi', 'vbm' or None"),
        ({"scale": "area"}, "scale must be 'max' or None"),
        ({"smoothing": 17}, "smoothing must be None or a"),
        ({"smoothing": (17,)}, "smoothing must be None or a"),
        ({"smoothing": (17.0, 1)}, "smoothing must be None or a"),
        ({"smoothing": (16, 1)}, "odd window_length"),
        ({"smoothing": (5, 5)}, "polyorder < window_length"),
        ({"smoothing": (5, -1)}, "polyorder < window_length"),
        ({"n_points": 11}, r"smoothing window \(17\) is longer than the grid"),
        ({"vbm_tol": 1.0}, r"vbm_tol must be in \[0, 1\)"),
        ({"vbm_tol": -0.1}, r"vbm_tol must be in \[0, 1\)"),
    ],
)
def test_bad_parameters(params, match):
    grid = DOSGrid(**params)
    for call in (grid.fit, lambda: grid.energies, lambda: grid.transform([(FINE, FINE**2, 0)])):
        with pytest.raises(ValueError, match=match):
            call()


def _good(shift=0.0):
    return (FINE + shift, gaussian(FINE, 0.5) + 0.1, shift)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            (np.r_[FINE[:10], FINE[9], FINE[11:]], np.ones(FINE.size), 0.0),
            r"energies must be strictly increasing, but energies\[9\]",
        ),
        ((FINE[::-1], np.ones(FINE.size), 0.0), "strictly increasing"),
        ((FINE, np.r_[np.ones(5), np.nan, np.ones(FINE.size - 6)], 0.0), "densities contain NaN"),
        ((np.r_[FINE[:-1], np.inf], np.ones(FINE.size), 0.0), "energies contain NaN or infinite"),
        ((FINE, np.ones(FINE.size), float("nan")), "efermi is NaN"),
        ((FINE, np.ones(FINE.size), None), "efermi must be a number for reference='fermi'"),
        ((FINE, np.ones(FINE.size), 6.0), r"grid window \[-5, 5\] eV is outside the data's"),
        ((FINE, np.ones(FINE.size), -5.5), "outside the data's energy range"),
        ((FINE, np.zeros(FINE.size), 0.0), "zero everywhere in the grid window"),
        ((FINE, np.where(np.abs(FINE) > 6, 1.0, 0.0), 0.0), "cannot be scaled by its maximum"),
        ((FINE, np.ones(10), 0.0), r"densities must have shape \(2001,\)"),
        ((FINE, np.ones((3, 2001, 2)), 0.0), r"densities must have shape"),
        ((FINE, {"1": np.ones(5)}, 0.0), "each spin's densities must have shape"),
        ((FINE, {}, 0.0), "densities dict is empty"),
        ((FINE, ["a"] * FINE.size, 0.0), "densities are not numbers"),
        ((np.ones((2, 2)), np.ones(2), 0.0), "energies must be one-dimensional"),
        ((FINE, np.ones(FINE.size)), "expected a pymatgen Dos or an"),
        ("dos.json", "expected a pymatgen Dos or an"),
    ],
)
def test_bad_samples_are_named(bad, match):
    samples = [_good(), _good(1.0), bad]
    with pytest.raises(ValueError, match=match) as info:
        DOSGrid().transform(samples)
    assert str(info.value).startswith("Sample 2: ")


def test_vbm_error_names_sample_and_reference():
    # Relative to its valence band maximum (-3.5 eV) this DOS starts at -4.5 eV.
    energies = np.linspace(-8.0, 6.0, 1401)
    sample = (energies, gapped(energies, -3.5, -0.5), -2.0)
    with pytest.raises(ValueError, match="Sample 1: .*relative to the valence band maximum"):
        DOSGrid(reference="vbm").transform([_good(), sample])
    assert DOSGrid().transform([sample]).shape == (1, 201)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ([], "at least one DOS"),
        (Dos(0.0, FINE, {Spin.up: np.ones(FINE.size)}), "single Dos; wrap it in a list"),
        ((FINE, np.ones(FINE.size), 0.0), "single tuple; wrap it in a list"),
        ("dos", "Expected a sequence of DOS, got str"),
        ({"energies": FINE}, "Expected a sequence of DOS, got dict"),
        (3, "Expected a sequence of DOS, got int"),
    ],
)
def test_bad_collections(X, match):
    with pytest.raises(ValueError, match=match):
        DOSGrid().transform(X)
