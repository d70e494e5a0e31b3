"""Harmonic phonon thermodynamics from a DOS: agreement with pymatgen, limits, input errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.phonon.dos import PhononDos
from scipy import constants

from dos_estimators import thermo
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.thermo import FREQUENCY_UNITS, phonon_thermo

R = constants.R  # J/(mol K)
WAVENUMBERS = np.linspace(0, 1000, 51)  # cm^-1, the phonon data set's grid
CM_TO_THZ = constants.c * 100 / constants.tera
CM_TO_MEV = constants.h * constants.c * 100 / (constants.e * constants.milli)
TEMPERATURES = np.array([50.0, 300.0, 1000.0])
QUANTITIES = ("cv", "entropy", "free_energy", "zpe")


def debye_dos(frequencies=WAVENUMBERS, cutoff=700.0):
    """omega^2 up to a cutoff, max-scaled like the data set."""
    dos = np.where(frequencies <= cutoff, frequencies**2, 0.0)
    return dos / dos.max()


def gaussians_dos(frequencies=WAVENUMBERS):
    """Two bands, zero at omega = 0."""
    dos = np.exp(-(((frequencies - 250) / 60) ** 2)) + 0.5 * np.exp(
        -(((frequencies - 650) / 40) ** 2)
    )
    dos[frequencies == 0] = 0.0
    return dos / dos.max()


def offset_dos(frequencies=WAVENUMBERS):
    """Non-zero at omega = 0, as about half of the data set's (smoothed) DOS are."""
    dos = 0.3 + np.exp(-(((frequencies - 400) / 100) ** 2))
    return dos / dos.max()


def batch():
    return np.stack([debye_dos(), gaussians_dos(), offset_dos()])


def pymatgen_reference(dos, n_atoms, temperatures, structure=None):
    """pymatgen's PhononDos values on the same grid, converted to this module's units.

    Units: PhononDos wants frequencies in THz and a DOS in states/THz; normalising it to
    3N over the THz grid makes its "per mole-cell" results (J/(K mol), J/mol) the same
    quantities as phonon_thermo's per-cell defaults (J/(K mol), kJ/mol: divide by 1e3).
    With a ``structure`` pymatgen divides by the formula units in the cell.
    """
    frequencies = WAVENUMBERS * CM_TO_THZ
    densities = dos * 3 * n_atoms / np.trapezoid(dos, frequencies)
    reference = PhononDos(frequencies, densities)
    with warnings.catch_warnings():
        # pymatgen warns when g(0) > 0 that it drops the omega = 0 sample of S and F.
        warnings.simplefilter("ignore", UserWarning)
        return {
            "cv": np.array([reference.cv(t, structure=structure) for t in temperatures]),
            "entropy": np.array([reference.entropy(t, structure=structure) for t in temperatures]),
            "free_energy": np.array(
                [reference.helmholtz_free_energy(t, structure=structure) for t in temperatures]
            )
            / 1e3,
            "zpe": reference.zero_point_energy(structure=structure) / 1e3,
        }


@pytest.mark.parametrize("make_dos", [debye_dos, gaussians_dos, offset_dos])
def test_agrees_with_pymatgen(make_dos):
    dos = make_dos()
    result = phonon_thermo(dos, WAVENUMBERS, 3, TEMPERATURES)
    reference = pymatgen_reference(dos, 3, TEMPERATURES)
    for name in QUANTITIES:
        np.testing.assert_allclose(result[name], reference[name], rtol=1e-4, err_msg=name)


def test_agrees_with_pymatgen_per_formula_unit():
    # Conventional rock salt: 8 atoms, 4 NaCl formula units, so pymatgen's per-mole-of-
    # formula-units values are 2 atoms' worth of the per-atom ones.
    structure = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    assert len(structure) == 8
    dos = gaussians_dos()
    result = phonon_thermo(dos, WAVENUMBERS, 8, TEMPERATURES, per_atom=True)
    reference = pymatgen_reference(dos, 8, TEMPERATURES, structure=structure)
    for name in QUANTITIES:
        np.testing.assert_allclose(2 * result[name], reference[name], rtol=1e-4, err_msg=name)


def test_dulong_petit_at_high_temperature():
    result = phonon_thermo(batch(), WAVENUMBERS, [1, 2, 5], 5000.0, per_atom=True)
    np.testing.assert_allclose(result["cv"], 3 * R, rtol=0.01)
    assert np.all(result["cv"] <= 3 * R)


def test_per_atom_is_per_cell_divided_by_n_atoms():
    n_atoms = np.array([1, 4, 7])
    per_cell = phonon_thermo(batch(), WAVENUMBERS, n_atoms, TEMPERATURES)
    per_atom = phonon_thermo(batch(), WAVENUMBERS, n_atoms, TEMPERATURES, per_atom=True)
    for name in ("cv", "entropy", "free_energy"):
        np.testing.assert_allclose(per_atom[name], per_cell[name] / n_atoms[:, None], rtol=1e-12)
    np.testing.assert_allclose(per_atom["zpe"], per_cell["zpe"] / n_atoms, rtol=1e-12)


def test_scale_of_the_dos_does_not_matter():
    scaled = phonon_thermo(batch(), WAVENUMBERS, 2, TEMPERATURES)
    times_seven = phonon_thermo(7 * batch(), WAVENUMBERS, 2, TEMPERATURES)
    for name in QUANTITIES:
        np.testing.assert_allclose(times_seven[name], scaled[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(("unit", "factor"), [("THz", CM_TO_THZ), ("meV", CM_TO_MEV)])
def test_units_agree(unit, factor):
    expected = phonon_thermo(batch(), WAVENUMBERS, 2, TEMPERATURES)
    result = phonon_thermo(batch(), WAVENUMBERS * factor, 2, TEMPERATURES, unit=unit)
    for name in QUANTITIES:
        np.testing.assert_allclose(result[name], expected[name], rtol=1e-12, err_msg=name)


def test_frequency_units_are_quantum_energies():
    assert FREQUENCY_UNITS["THz"] == pytest.approx(constants.h * 1e12)
    assert FREQUENCY_UNITS["meV"] / FREQUENCY_UNITS["cm^-1"] == pytest.approx(1 / CM_TO_MEV)


def test_batch_equals_row_by_row():
    n_atoms = [1, 4, 7]
    together = phonon_thermo(batch(), WAVENUMBERS, n_atoms, TEMPERATURES)
    for row, (dos, n) in enumerate(zip(batch(), n_atoms, strict=True)):
        alone = phonon_thermo(dos, WAVENUMBERS, n, TEMPERATURES)
        for name in QUANTITIES:
            np.testing.assert_allclose(alone[name], together[name][row], rtol=1e-12)


def test_shapes():
    dos = batch()
    full = phonon_thermo(dos, WAVENUMBERS, 2, TEMPERATURES)
    assert {name: full[name].shape for name in QUANTITIES} == {
        "cv": (3, 3),
        "entropy": (3, 3),
        "free_energy": (3, 3),
        "zpe": (3,),
    }
    one_temperature = phonon_thermo(dos, WAVENUMBERS, 2, 300.0)
    assert one_temperature["cv"].shape == (3,) and one_temperature["zpe"].shape == (3,)
    np.testing.assert_allclose(one_temperature["cv"], full["cv"][:, 1])
    one_crystal = phonon_thermo(dos[0], WAVENUMBERS, 2, TEMPERATURES)
    assert one_crystal["cv"].shape == (3,) and np.ndim(one_crystal["zpe"]) == 0
    single = phonon_thermo(dos[0], WAVENUMBERS, 2, 300.0)
    assert all(np.ndim(single[name]) == 0 for name in QUANTITIES)
    assert float(single["cv"]) == pytest.approx(full["cv"][0, 1])


def test_zero_kelvin_limits_without_warnings():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = phonon_thermo(batch(), WAVENUMBERS, 2, [0.0, 1e-3, 1e-200, 300.0])
    np.testing.assert_array_equal(result["cv"][:, 0], 0.0)
    np.testing.assert_array_equal(result["entropy"][:, :3], 0.0)
    np.testing.assert_allclose(result["free_energy"][:, :3], np.tile(result["zpe"][:, None], 3))
    assert np.all(np.isfinite(result["cv"])) and np.all(result["cv"][:, 3] > 0)
    # Frozen out below the grid's resolution, except for the omega = 0 sample, whose C_V
    # weight is its limit 1 at any T > 0 (pymatgen's convention): its share of the 3N modes.
    np.testing.assert_array_equal(result["cv"][:2, 1:3], 0.0)
    dos = offset_dos()
    share = dos[0] * (WAVENUMBERS[1] / 2) / np.trapezoid(dos, WAVENUMBERS)
    np.testing.assert_allclose(result["cv"][2, 1:3], R * 3 * 2 * share, rtol=1e-12)


def test_thermodynamic_consistency():
    # S = -dF/dT, checked by central differences on the free energy.
    temperatures = np.array([299.0, 300.0, 301.0])
    result = phonon_thermo(batch(), WAVENUMBERS, 2, temperatures)
    slope = (result["free_energy"][:, 2] - result["free_energy"][:, 0]) * 1e3 / 2.0
    np.testing.assert_allclose(-slope, result["entropy"][:, 1], rtol=1e-4)


def good_arguments():
    return {
        "dos": batch(),
        "frequencies": WAVENUMBERS,
        "n_atoms": [1, 2, 3],
        "temperatures": TEMPERATURES,
    }


def spoiled_dos(value, row=1, column=4):
    dos = batch()
    dos[row, column] = value
    return dos


def zero_row():
    dos = batch()
    dos[2] = 0.0
    return dos


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dos": spoiled_dos(-0.1)}, r"dos must be non-negative .* row 1 is -0\.1 at frequency"),
        ({"dos": spoiled_dos(np.nan)}, r"dos contains NaN or infinite values \(first at index"),
        ({"dos": spoiled_dos(np.inf)}, r"dos contains NaN or infinite"),
        ({"dos": batch()[:, :-1]}, r"dos has 50 values per crystal but frequencies has 51"),
        ({"dos": batch()[None]}, r"dos must be 1-D .* got shape \(1, 3, 51\)"),
        ({"dos": [[0.1, 0.2], [0.3]]}, r"dos must be a numeric array"),
        ({"dos": [["a"] * 51]}, r"dos must hold real numbers"),
        ({"dos": zero_row()}, r"dos row 2 is zero everywhere and cannot be normalised"),
        ({"frequencies": WAVENUMBERS[::-1]}, r"frequencies must be strictly increasing"),
        (
            {"frequencies": np.r_[WAVENUMBERS[:10], WAVENUMBERS[9:-1]]},
            r"frequencies must be strictly increasing; frequencies\[10\] = 180",
        ),
        ({"frequencies": WAVENUMBERS - 20}, r"frequencies must be >= 0 .* got -20 at index 0"),
        ({"frequencies": WAVENUMBERS[:, None]}, r"frequencies must be a 1-D array"),
        ({"frequencies": np.r_[WAVENUMBERS[:-1], np.nan]}, r"frequencies contains NaN"),
        ({"n_atoms": 0}, r"n_atoms must be positive integers, got 0 at index 0"),
        ({"n_atoms": [1, -2, 3]}, r"n_atoms must be positive integers, got -2 at index 1"),
        ({"n_atoms": [1, 2.5, 3]}, r"n_atoms must be positive integers, got 2\.5 at index 1"),
        ({"n_atoms": [1, 2]}, r"n_atoms must be an integer or an array of shape \(3,\)"),
        ({"temperatures": [300.0, -5.0]}, r"temperatures must be >= 0 K, got -5 at index 1"),
        ({"temperatures": -1.0}, r"temperatures must be >= 0 K, got -1 at index 0"),
        ({"temperatures": [[300.0]]}, r"temperatures must be a scalar or a 1-D array"),
        ({"temperatures": [300.0, np.nan]}, r"temperatures contains NaN"),
        ({"unit": "Hz"}, r"unit must be one of \['cm\^-1', 'THz', 'meV'\], got 'Hz'"),
        ({"unit": None}, r"unit must be one of .* got None"),
        ({"per_atom": "yes"}, r"per_atom must be True or False, got 'yes'"),
    ],
)
def test_input_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        phonon_thermo(**{**good_arguments(), **changes})


def test_public_name():
    import dos_estimators

    assert dos_estimators.thermo is thermo
    assert "thermo" in dos_estimators.__all__


def test_real_phonon_set_heat_capacity(shared_data_home):
    data = load_phonon_dos(data_home=shared_data_home, download_if_missing=False)
    assert data.energy_unit == "cm^-1"
    n_atoms = np.array([len(structure) for structure in data.structures])
    result = phonon_thermo(data.dos, data.energies, n_atoms, 300.0, per_atom=True)
    cv = result["cv"]
    assert cv.shape == (len(data.structures),)
    first = cv[:20]
    assert np.all(np.isfinite(first)) and np.all(first > 0) and np.all(first < 3 * R)
    # The whole set too: every mode's C_V weight is at most one k_B.
    assert np.all(np.isfinite(cv)) and np.all(cv > 0) and np.all(cv <= 3 * R * (1 + 1e-12))
