"""Electron DOS data sets in JSON lines: the local GPAW set and users' own files.

One JSON object per line pairs a crystal (ASE or pymatgen dict) with its DOS; the loader
puts every DOS on one grid with :class:`~dos_estimators.spectra.DOSGrid`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..spectra import DOSGrid
from ..structures import DEFAULT_SYMPREC, crystal_systems
from ._base import DATA_ENV, get_data_home, structure_from_dict

EDOS_GPAW = "edos_gpaw"
"""Name of the local electron DOS set computed with GPAW (``edos_gpaw.jsonl``)."""

ID_KEYS = ("mp_id", "material_id")
"""Record keys that may hold the material id, in order of preference."""

DESCR_GPAW = """\
Electron density of states of small crystals (at most 8 atoms per cell) from the
phonon DOS set, drawn from all seven crystal systems (counts per system vary),
computed with GPAW 22.8 (LCAO, dzp basis, PBE, grid spacing 0.3 A, Fermi-Dirac
width 0.05 eV, spin-paired): total DOS with Gaussian broadening 0.1 eV on 2,001
energies from efermi - 10 to efermi + 10 eV, and the Kohn-Sham band gap. Not
Materials Project data: cheaper DFT with the same kind of output. The file grows
over time; its length is not fixed.
"""

DESCR_FILE = """\
Electron density of states read from {path} ({n} records).
"""


def _resolve_path(name_or_path, data_home) -> Path:
    """The file to read: the GPAW set by name, a name in the data home, or a path."""
    if name_or_path == EDOS_GPAW:
        path = get_data_home(data_home) / f"{EDOS_GPAW}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path.name} not found: expected {path}. This data set is computed locally "
                "and has no download URL; set `data_home` or the "
                f"{DATA_ENV} environment variable to the folder that holds {path.name}, or "
                "pass the path of your own JSON-lines file."
            )
        return path
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    tried = [path]
    if len(path.parts) == 1:
        folder = get_data_home(data_home)
        for candidate in (folder / path, folder / f"{path}.jsonl"):
            if candidate.is_file():
                return candidate
            tried.append(candidate)
    raise FileNotFoundError(
        f"No electron DOS file {str(name_or_path)!r}: looked for "
        f"{', '.join(str(p) for p in tried)}."
    )


def _record_dos(record: dict, where: str, energies_relative: bool) -> tuple[object, object, float]:
    """``(energies, densities, efermi)`` of a record, in either of the two layouts."""
    if "dos" in record:
        dos = record["dos"]
        if not isinstance(dos, dict) or not {"energies", "densities", "efermi"} <= dos.keys():
            raise ValueError(
                f"{where}'dos' must be a pymatgen Dos or CompleteDos dict with 'energies', "
                "'densities' and 'efermi'."
            )
        return dos["energies"], dos["densities"], dos["efermi"]
    if "energies" in record and "densities" in record:
        if "efermi" in record:
            return record["energies"], record["densities"], record["efermi"]
        if energies_relative:
            return record["energies"], record["densities"], 0.0
        # Absolute energies taken as relative would shift the whole DOS off its grid window.
        raise ValueError(
            f"{where}no 'efermi': the Fermi level (eV, on the scale of 'energies') is needed "
            "to put the DOS on the grid. Add it to the record (0 if its energies are already "
            "relative to the Fermi level), or pass energies_relative=True to take the "
            "energies of every record without one as relative."
        )
    raise ValueError(
        f"{where}no DOS: expected 'energies' and 'densities' (and 'efermi'), or a pymatgen "
        "Dos dict under 'dos'."
    )


def _record_id(record: dict, where: str) -> str:
    for key in ID_KEYS:
        if key in record:
            return str(record[key])
    raise ValueError(f"{where}no material id (expected one of the keys {list(ID_KEYS)}).")


def _number_or_nan(value, name: str, where: str) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{name} must be a number, got {value!r}.") from None


def load_electron_dos(
    name_or_path: str | os.PathLike = EDOS_GPAW,
    data_home: str | os.PathLike | None = None,
    grid: DOSGrid | None = None,
    symprec: float = DEFAULT_SYMPREC,
    n_jobs: int | None = None,
    energies_relative: bool = False,
) -> Bunch:
    """Load electron DOS from a JSON-lines file and put them on one energy grid.

    Each non-blank line is one JSON object (record) with

    - ``mp_id`` or ``material_id``: the material's id;
    - ``structure``: a pymatgen ``Structure.as_dict()`` or an ASE ``Atoms`` dict
      (``numbers``, ``positions`` and ``cell`` in Å, ``pbc``). A record whose DOS is a
      pymatgen ``CompleteDos`` dict may leave it out; the DOS's structure is used then;
    - the DOS, either as ``energies`` (eV, absolute), ``densities`` (a list, a list per
      spin, or a dict per spin; spins are summed) and ``efermi`` (eV, on the scale of
      ``energies``; required unless ``energies_relative=True``), or as a pymatgen ``Dos``
      or ``CompleteDos`` dict under ``dos``;
    - optionally ``gap``, the band gap in eV.

    Parameters
    ----------
    name_or_path : str or path-like, default="edos_gpaw"
        ``"edos_gpaw"`` is the GPAW set ``edos_gpaw.jsonl`` in the data home (a local
        file with no download). Any other value is a path to a JSON-lines file; a bare
        name that is not an existing file is looked up in the data home, with or without
        ``.jsonl`` (e.g. the file written by
        :func:`~dos_estimators.datasets.fetch_materials_project_dos`).
    data_home : str or path-like, optional
        Folder of the data files. Defaults to ``$DOS_ESTIMATORS_DATA``, else
        ``~/dos_estimators_data``.
    grid : DOSGrid, optional
        How each DOS is put on the grid. Defaults to ``DOSGrid()``: 201 energies from -5
        to 5 eV around the Fermi level, Savitzky–Golay window 17 and order 1, max-scaled.
    symprec : float, default=0.1
        Symmetry tolerance (Å) for the crystal systems.
    n_jobs : int, optional
        Processes for the crystal-system search.
    energies_relative : bool, default=False
        Whether a record with ``energies`` but no ``efermi`` has energies relative to the
        Fermi level already (its ``efermi`` is then 0). With False such a record is an
        error: absolute energies read as relative would put the wrong part of the DOS in
        the grid's window without a sign. Records that give ``efermi`` use it either way.

    Returns
    -------
    sklearn.utils.Bunch
        ``structures`` (list of ``n`` pymatgen ``Structure``), ``dos`` (``(n, n_points)``),
        ``energies`` (``(n_points,)``, eV relative to the grid's reference),
        ``energy_unit`` (``"eV"``), ``material_ids`` (list of str), ``crystal_systems``
        (list of str), ``efermi`` (``(n,)``, the Fermi level of each record on its own
        energy scale; 0 for a record without ``efermi`` read with
        ``energies_relative=True``), ``gap`` (``(n,)`` in eV, NaN where the record has
        none), ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If the file is not found.
    ValueError
        If ``energies_relative`` is not a bool, the file has no records, or a record is
        malformed or lacks ``efermi`` without ``energies_relative=True`` (the message
        gives the file, the line number and the key), or its DOS cannot be put on the
        grid (see :meth:`DOSGrid.transform`).

    Examples
    --------
    >>> data = load_electron_dos()  # doctest: +SKIP
    >>> data.dos.shape[1], data.energies[:3]  # doctest: +SKIP
    (201, array([-5.  , -4.95, -4.9 ]))
    """
    if not isinstance(energies_relative, (bool, np.bool_)):
        raise ValueError(f"energies_relative must be True or False, got {energies_relative!r}.")
    path = _resolve_path(name_or_path, data_home)
    grid = DOSGrid() if grid is None else grid
    if not isinstance(grid, DOSGrid):
        raise ValueError(f"grid must be a DOSGrid, got {type(grid).__name__}.")
    grid._check_params()

    structures, rows, material_ids, efermis, gaps = [], [], [], [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}: "
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}not valid JSON ({err}).") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}expected a JSON object, got {type(record).__name__}.")
            material_ids.append(_record_id(record, where))
            energies, densities, efermi = _record_dos(record, where, energies_relative)
            efermi = _number_or_nan(efermi, "efermi", where)
            rows.append(grid._transform_one((energies, densities, efermi), where))
            if "structure" in record:
                structure = record["structure"]
            elif isinstance(record.get("dos"), dict) and "structure" in record["dos"]:
                structure = record["dos"]["structure"]
            else:
                raise ValueError(f"{where}no 'structure'.")
            structures.append(structure_from_dict(structure, where))
            efermis.append(efermi)
            gaps.append(_number_or_nan(record.get("gap"), "gap", where))
    if not rows:
        raise ValueError(f"{path} holds no records.")

    descr = DESCR_GPAW if name_or_path == EDOS_GPAW else DESCR_FILE.format(path=path, n=len(rows))
    return Bunch(
        structures=structures,
        dos=np.vstack(rows),
        energies=grid.energies,
        energy_unit="eV",
        material_ids=material_ids,
        crystal_systems=crystal_systems(structures, symprec=symprec, n_jobs=n_jobs),
        efermi=np.asarray(efermis, dtype=float),
        gap=np.asarray(gaps, dtype=float),
        DESCR=descr,
    )
