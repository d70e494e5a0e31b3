"""Reading the DOS samples that :class:`~dos_estimators.spectra.DOSGrid` accepts.

A sample is a pymatgen ``Dos``/``CompleteDos`` or an ``(energies, densities, efermi)``
triple; these functions check it and return plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pymatgen.electronic_structure.dos import Dos

from .._validation import is_real


def _is_triple(obj) -> bool:
    """Whether ``obj`` looks like one ``(energies, densities, efermi)`` sample."""
    return (
        isinstance(obj, (tuple, list))
        and len(obj) == 3
        and not isinstance(obj[0], (Dos, tuple, list))
        and (obj[2] is None or is_real(obj[2]))
    )


def check_samples(X) -> list:
    """The DOS samples of ``X``, a sequence of them, as a non-empty list.

    Raises
    ------
    ValueError
        If ``X`` is a single sample, a string or mapping, not iterable, or empty.
    """
    if isinstance(X, Dos) or _is_triple(X):
        raise ValueError(
            f"Expected a sequence of DOS, got a single {type(X).__name__}; wrap it in a list."
        )
    if isinstance(X, (str, bytes, Mapping)):
        raise ValueError(f"Expected a sequence of DOS, got {type(X).__name__}.")
    try:
        samples = list(X)
    except TypeError:
        raise ValueError(f"Expected a sequence of DOS, got {type(X).__name__}.") from None
    if not samples:
        raise ValueError("Expected at least one DOS, got an empty sequence.")
    return samples


def _sum_spins(densities, n_energies: int, where: str) -> np.ndarray:
    """Total densities ``(n_energies,)`` of one spin, several, or a dict of spins."""
    if isinstance(densities, Mapping):
        if not densities:
            raise ValueError(f"{where}the densities dict is empty.")
        parts = [np.asarray(v, dtype=float) for v in densities.values()]
        if any(p.shape != (n_energies,) for p in parts):
            raise ValueError(
                f"{where}each spin's densities must have shape ({n_energies},) like the "
                f"energies, got {[p.shape for p in parts]}."
            )
        return np.sum(parts, axis=0)
    array = np.asarray(densities, dtype=float)
    if array.shape == (n_energies,):
        return array
    if array.ndim == 2 and array.shape[1] == n_energies:
        return array.sum(axis=0)
    raise ValueError(
        f"{where}densities must have shape ({n_energies},) or (n_spins, {n_energies}) to "
        f"match the energies, got {array.shape}."
    )


def sample_arrays(sample, where: str, needs_efermi) -> tuple[np.ndarray, np.ndarray, float | None]:
    """``(energies, summed densities, efermi)`` of one sample, checked.

    Parameters
    ----------
    sample : pymatgen Dos, or (energies, densities, efermi)
        ``densities`` of shape ``(n_energies,)``, ``(n_spins, n_energies)`` or a dict of
        spins to ``(n_energies,)`` arrays.
    where : str
        Prefix of error messages (e.g. ``"Sample 3: "``).
    needs_efermi : str or None
        The grid's reference; when not None ``efermi`` must be a finite number.

    Returns
    -------
    energies : numpy.ndarray of shape (n_energies,)
        Strictly increasing, finite.
    densities : numpy.ndarray of shape (n_energies,)
        Spins summed, finite.
    efermi : float or None

    Raises
    ------
    ValueError
        For a sample of another form, or values that break the rules above.
    """
    if isinstance(sample, Dos):
        energies, densities, efermi = sample.energies, sample.densities, sample.efermi
    elif isinstance(sample, (tuple, list)) and len(sample) == 3:
        energies, densities, efermi = sample
    else:
        raise ValueError(
            f"{where}expected a pymatgen Dos or an (energies, densities, efermi) triple, got "
            f"{type(sample).__name__}."
        )
    try:
        energies = np.asarray(energies, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}energies are not numbers: {err}") from None
    if energies.ndim != 1 or energies.size < 2:
        raise ValueError(
            f"{where}energies must be one-dimensional with at least 2 values, got shape "
            f"{energies.shape}."
        )
    try:
        densities = _sum_spins(densities, energies.size, where)
    except (TypeError, ValueError) as err:
        if str(err).startswith(where):
            raise
        raise ValueError(f"{where}densities are not numbers: {err}") from None
    for name, values in (("energies", energies), ("densities", densities)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{where}{name} contain NaN or infinite values ({bad.size} of them, first at "
                f"index {bad[0]})."
            )
    steps = np.diff(energies)
    if (steps <= 0).any():
        j = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(
            f"{where}energies must be strictly increasing, but energies[{j}] = "
            f"{energies[j]:g} >= energies[{j + 1}] = {energies[j + 1]:g}."
        )
    if needs_efermi is not None:
        if efermi is None or not is_real(efermi):
            raise ValueError(
                f"{where}efermi must be a number for reference={needs_efermi!r}, got {efermi!r}."
            )
        if not np.isfinite(efermi):
            raise ValueError(f"{where}efermi is NaN or infinite ({efermi!r}).")
        efermi = float(efermi)
    return energies, densities, efermi
