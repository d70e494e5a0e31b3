"""Harmonic phonon thermodynamics from a density of states on a frequency grid.

Heat capacity, vibrational entropy, Helmholtz free energy and zero-point energy of many
crystals at many temperatures, with each DOS renormalised to 3N modes first.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from scipy import constants

__all__ = ["FREQUENCY_UNITS", "phonon_thermo"]

#: Energy (J) of one phonon quantum at a frequency of 1 in each accepted unit.
FREQUENCY_UNITS = MappingProxyType(
    {
        "cm^-1": constants.h * constants.c * 100.0,
        "THz": constants.h * constants.tera,
        "meV": constants.e * constants.milli,
    }
)

# Beyond x = h nu / kT = 700 a mode's C_V, S and thermal-F weights are below 1e-298 and
# e^-x is about to underflow, so such modes count as frozen (weight 0).
_X_FROZEN = 700.0


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a numeric array: {error}") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}.")
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at index {index}).")
    return array


def _check_unit(unit) -> float:
    if not isinstance(unit, str) or unit not in FREQUENCY_UNITS:
        raise ValueError(f"unit must be one of {list(FREQUENCY_UNITS)}, got {unit!r}.")
    return FREQUENCY_UNITS[unit]


def _check_frequencies(frequencies) -> np.ndarray:
    frequencies = _as_float_array(frequencies, "frequencies")
    if frequencies.ndim != 1 or frequencies.size < 2:
        raise ValueError(
            f"frequencies must be a 1-D array of at least 2 values, got shape {frequencies.shape}."
        )
    if frequencies[0] < 0:
        raise ValueError(
            f"frequencies must be >= 0 (imaginary modes are outside the harmonic model), "
            f"got {frequencies[0]:g} at index 0."
        )
    steps = np.diff(frequencies)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"frequencies must be strictly increasing; frequencies[{i + 1}] = "
            f"{frequencies[i + 1]:g} follows frequencies[{i}] = {frequencies[i]:g}."
        )
    return frequencies


def _check_dos(dos, n_frequencies: int) -> np.ndarray:
    dos = _as_float_array(dos, "dos")
    if dos.ndim not in (1, 2):
        raise ValueError(
            f"dos must be 1-D (one crystal) or 2-D (n_crystals, n_frequencies), "
            f"got shape {dos.shape}."
        )
    rows = np.atleast_2d(dos)
    if rows.shape[1] != n_frequencies:
        raise ValueError(
            f"dos has {rows.shape[1]} values per crystal but frequencies has {n_frequencies}."
        )
    if np.any(rows < 0):
        row, column = np.argwhere(rows < 0)[0]
        raise ValueError(
            f"dos must be non-negative (clip predictions at 0 first); row {row} is "
            f"{rows[row, column]:g} at frequency index {column}."
        )
    empty = ~np.any(rows > 0, axis=1)
    if np.any(empty):
        raise ValueError(
            f"dos row {int(np.argmax(empty))} is zero everywhere and cannot be normalised "
            f"to 3N modes."
        )
    return dos


def _check_n_atoms(n_atoms, n_crystals: int) -> np.ndarray:
    n_atoms = _as_float_array(n_atoms, "n_atoms")
    if n_atoms.ndim == 0:
        n_atoms = np.full(n_crystals, float(n_atoms))
    elif n_atoms.shape != (n_crystals,):
        raise ValueError(
            f"n_atoms must be an integer or an array of shape ({n_crystals},), one per "
            f"crystal of dos, got shape {n_atoms.shape}."
        )
    bad = (n_atoms <= 0) | (n_atoms != np.round(n_atoms))
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"n_atoms must be positive integers, got {n_atoms[i]:g} at index {i}.")
    return n_atoms


def _check_temperatures(temperatures) -> np.ndarray:
    temperatures = _as_float_array(temperatures, "temperatures")
    if temperatures.ndim > 1:
        raise ValueError(
            f"temperatures must be a scalar or a 1-D array, got shape {temperatures.shape}."
        )
    if np.any(temperatures < 0):
        i = int(np.argmax(temperatures.ravel() < 0))
        raise ValueError(
            f"temperatures must be >= 0 K, got {temperatures.ravel()[i]:g} at index {i}."
        )
    return temperatures


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights ``w`` with ``w @ f == np.trapezoid(f, x)`` for any ``f`` on the grid ``x``."""
    steps = np.diff(x) / 2
    weights = np.zeros_like(x)
    weights[:-1] += steps
    weights[1:] += steps
    return weights


def phonon_thermo(dos, frequencies, n_atoms, temperatures, unit="cm^-1", per_atom=False):
    r"""Harmonic heat capacity, entropy, free energy and zero-point energy from a phonon DOS.

    Each DOS is first rescaled so that its integral over frequency is :math:`3N` modes
    (:math:`N` = ``n_atoms``), which restores the absolute scale a max-scaled DOS has lost.
    With :math:`x = h\nu / k_B T` and the normalised DOS :math:`g(\nu)`, per mole of cells,

    - :math:`C_V = N_A k_B \int g(\nu)\, x^2 e^{x} / (e^{x} - 1)^2 \, d\nu`
    - :math:`S = N_A k_B \int g(\nu)\, [x / (e^{x} - 1) - \ln(1 - e^{-x})] \, d\nu`
    - :math:`F = N_A \int g(\nu)\, [h\nu / 2 + k_B T \ln(1 - e^{-x})] \, d\nu`
    - :math:`E_{ZP} = N_A \int g(\nu)\, h\nu / 2 \, d\nu`

    The integrals use the trapezoidal rule on the given grid, as pymatgen's
    ``PhononDos`` does, and agree with it to rounding. At :math:`\nu = 0` the
    :math:`C_V` weight takes its limit 1 (one :math:`k_B` per mode) and the entropy and
    free-energy weights, which diverge logarithmically, are dropped (pymatgen's choices);
    no warning is raised for a DOS that is non-zero at :math:`\nu = 0`.

    Parameters
    ----------
    dos : array-like of shape (n_crystals, n_frequencies) or (n_frequencies,)
        Non-negative densities of states, in any scale (each row is renormalised).
    frequencies : array-like of shape (n_frequencies,)
        Strictly increasing, non-negative frequencies in ``unit``.
    n_atoms : int or array-like of shape (n_crystals,)
        Atoms in the cell each DOS describes; the DOS is normalised to ``3 * n_atoms``.
    temperatures : float or array-like of shape (n_temperatures,)
        Temperatures in K, >= 0. At 0 K the limits are returned: ``cv = 0``,
        ``entropy = 0`` and ``free_energy = zpe``.
    unit : {"cm^-1", "THz", "meV"}, default="cm^-1"
        Unit of ``frequencies``: wavenumber, frequency or phonon energy.
    per_atom : bool, default=False
        Per mole of atoms instead of per mole of the given cells (divides by ``n_atoms``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``"cv"`` and ``"entropy"`` in J/(mol K), ``"free_energy"`` in kJ/mol, each of
        shape (n_crystals, n_temperatures); ``"zpe"`` in kJ/mol, of shape (n_crystals,).
        A 1-D ``dos`` drops the crystal axis and a scalar ``temperatures`` drops the
        temperature axis (one crystal at one temperature gives NumPy floats).

    Raises
    ------
    ValueError
        If ``dos`` is negative, not finite, all zero in a row or does not match
        ``frequencies``; if ``frequencies`` are negative, not strictly increasing or
        not 1-D; if ``n_atoms`` is not a positive integer per crystal; if a temperature is
        negative; if ``unit`` is unknown or ``per_atom`` is not a bool.

    Examples
    --------
    A Debye-like DOS ending at 600 cm^-1 and a Gaussian band, max-scaled to 1 like the
    phonon data set, for cells of 2 and 5 atoms:

    >>> import numpy as np
    >>> from dos_estimators.thermo import phonon_thermo
    >>> frequencies = np.linspace(0, 1000, 51)  # cm^-1
    >>> debye = np.where(frequencies <= 600, frequencies**2, 0.0)
    >>> band = np.exp(-(((frequencies - 300) / 80) ** 2))
    >>> dos = np.stack([debye / debye.max(), band])
    >>> result = phonon_thermo(dos, frequencies, n_atoms=[2, 5], temperatures=[300, 1000])
    >>> result["cv"].shape, result["zpe"].shape
    ((2, 2), (2,))
    >>> result["cv"].round(1)  # J/(mol K), per mole of cells
    array([[ 33.7,  48. ],
           [104.9, 122.7]])
    >>> result["zpe"].round(2)  # kJ/mol
    array([16.41, 26.92])

    Per mole of atoms, the heat capacity approaches Dulong and Petit's 3R at high T:

    >>> per_atom = phonon_thermo(dos, frequencies, [2, 5], 1000, per_atom=True)
    >>> (per_atom["cv"] / (3 * 8.314462618)).round(3)
    array([0.963, 0.984])
    """
    quantum = _check_unit(unit)
    if not isinstance(per_atom, (bool, np.bool_)):
        raise ValueError(f"per_atom must be True or False, got {per_atom!r}.")
    frequencies = _check_frequencies(frequencies)
    dos = _check_dos(dos, frequencies.size)
    one_crystal = dos.ndim == 1
    dos = np.atleast_2d(dos)
    n_atoms = _check_n_atoms(n_atoms, dos.shape[0])
    temperatures = _check_temperatures(temperatures)
    one_temperature = temperatures.ndim == 0
    temperatures = temperatures.reshape(-1)

    # modes[c, j]: how many of crystal c's 3N modes the grid point j stands for in the
    # trapezoidal rule, so every integral below is a matrix product.
    integrated = dos * _trapezoid_weights(frequencies)
    modes = integrated * (3 * n_atoms / integrated.sum(axis=1))[:, None]

    energies = quantum * frequencies  # J per quantum, shape (n_frequencies,)
    positive = frequencies > 0
    hot = temperatures > 0
    cv_weight = np.zeros((temperatures.size, frequencies.size))
    entropy_weight = np.zeros_like(cv_weight)
    thermal_free_weight = np.zeros_like(cv_weight)  # k_B T ln(1 - e^-x), in units of k_B

    x = energies[positive] / (constants.k * temperatures[hot, None])
    awake = x < _X_FROZEN
    x = np.where(awake, x, _X_FROZEN)
    boltzmann = np.exp(-x)
    one_minus = -np.expm1(-x)  # 1 - e^-x, accurate for small x
    cv_weight[np.ix_(hot, positive)] = awake * x**2 * boltzmann / one_minus**2
    cv_weight[np.ix_(hot, ~positive)] = 1.0  # x^2 e^x / (e^x - 1)^2 -> 1 as x -> 0
    entropy_weight[np.ix_(hot, positive)] = awake * (x * boltzmann / one_minus - np.log(one_minus))
    thermal_free_weight[np.ix_(hot, positive)] = awake * temperatures[hot, None] * np.log(one_minus)

    per_mole = constants.k * constants.N_A
    cv = per_mole * modes @ cv_weight.T
    entropy = per_mole * modes @ entropy_weight.T
    zpe = constants.N_A * modes @ (energies / 2) / 1e3
    free_energy = zpe[:, None] + per_mole * modes @ thermal_free_weight.T / 1e3

    result = {"cv": cv, "entropy": entropy, "free_energy": free_energy, "zpe": zpe}
    if per_atom:
        result = {
            name: value / (n_atoms[:, None] if value.ndim == 2 else n_atoms)
            for name, value in result.items()
        }
    if one_temperature:
        result = {name: v[:, 0] if v.ndim == 2 else v for name, v in result.items()}
    if one_crystal:
        result = {name: value[0] for name, value in result.items()}
    return result
