"""Thermodynamics of the test crystals: stored in the phonon rows, read by thermo.py.

:func:`thermo_record` gives, per test crystal, C_V and S at :data:`THERMO_TEMPERATURE`
from the true and from the predicted DOS (:func:`thermo_of`).
"""

from __future__ import annotations

import numpy as np

from dos_estimators.thermo import phonon_thermo

THERMO_TEMPERATURE = 300.0
THERMO_QUANTITIES = (("cv", "C_V", "J/(mol·K)"), ("entropy", "S", "J/(mol·K)"))


def thermo_of(dos, frequencies, structures, temperature) -> dict:
    """C_V and S per mole of atoms at ``temperature`` of each DOS row.

    Negative values are clipped to 0 first. A row that is zero everywhere cannot be
    normalised to 3N modes: its values are NaN.
    """
    dos = np.clip(np.asarray(dos, dtype=float), 0, None)
    n_atoms = np.array([len(s) for s in structures])
    values = {key: np.full(len(dos), np.nan) for key, _, _ in THERMO_QUANTITIES}
    valid = np.any(dos > 0, axis=1)
    if valid.any():
        found = phonon_thermo(dos[valid], frequencies, n_atoms[valid], temperature, per_atom=True)
        for key in values:
            values[key][valid] = found[key]
    return values


def thermo_record(y_true, y_pred, frequencies, structures, temperature=THERMO_TEMPERATURE):
    """Per test crystal, C_V and S from the true and the predicted DOS, as lists for JSON.

    Returns ``{"temperature", "per_atom": True, "cv": {"true", "predicted"},
    "entropy": {...}}``, each list one float per crystal, ``None`` where a DOS is zero
    everywhere.
    """
    true = thermo_of(y_true, frequencies, structures, temperature)
    predicted = thermo_of(y_pred, frequencies, structures, temperature)

    def floats(values):
        return [None if np.isnan(v) else float(v) for v in values]

    record = {"temperature": float(temperature), "per_atom": True}
    for key, _, _ in THERMO_QUANTITIES:
        record[key] = {"true": floats(true[key]), "predicted": floats(predicted[key])}
    return record
