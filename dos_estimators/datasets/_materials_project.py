"""Download electron DOS from the Materials Project into the JSON-lines format of the loader.

Needs the optional ``mp`` extra (``mp-api``) and an API key; downloads resume where an
earlier call stopped.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.electronic_structure.dos import CompleteDos, Dos
from sklearn.utils import Bunch

from ..spectra import DOSGrid
from ..structures import DEFAULT_SYMPREC
from ._base import get_data_home
from ._electron import ID_KEYS, load_electron_dos

API_KEY_ENV = "MP_API_KEY"
MP_FILENAME = "materials_project_dos.jsonl"
SEARCH_FIELDS = ["material_id", "is_magnetic", "band_gap"]


def materials_project_record(
    material_id: str,
    dos: Dos,
    structure: Structure | None = None,
    gap: float | None = None,
) -> dict:
    """One JSON-ready record of the electron DOS file, from pymatgen objects.

    Parameters
    ----------
    material_id : str
        Materials Project id, e.g. ``"mp-149"``.
    dos : pymatgen.electronic_structure.dos.Dos or CompleteDos
        The DOS; spins are summed into one total DOS.
    structure : pymatgen.core.Structure, optional
        The crystal. Defaults to the structure of a ``CompleteDos``.
    gap : float, optional
        Band gap in eV, e.g. the summary's ``band_gap``. ``None`` (unknown) is stored as
        ``null`` and loaded as NaN.

    Returns
    -------
    dict
        ``mp_id``, ``structure`` (``Structure.as_dict()`` in JSON types), ``efermi``,
        ``gap`` (float or None), ``energies`` (absolute, eV), ``densities``
        (states/eV per cell, spins summed), ``source``. :func:`load_electron_dos` reads a
        file of such records.

    Raises
    ------
    ValueError
        If ``dos`` is not a pymatgen ``Dos``, or no structure is given for a plain ``Dos``.

    Examples
    --------
    >>> import numpy as np
    >>> from pymatgen.core import Lattice, Structure
    >>> from pymatgen.electronic_structure.core import Spin
    >>> from pymatgen.electronic_structure.dos import Dos
    >>> energies = np.linspace(-10.0, 10.0, 401)
    >>> dos = Dos(0.0, energies, {Spin.up: np.ones(401), Spin.down: np.ones(401)})
    >>> si = Structure(Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    >>> record = materials_project_record("mp-0", dos, structure=si, gap=0.0)
    >>> record["mp_id"], record["densities"][:2], len(record["energies"])
    ('mp-0', [2.0, 2.0], 401)
    """
    if not isinstance(dos, Dos):
        raise ValueError(f"{material_id}: expected a pymatgen Dos, got {type(dos).__name__}.")
    if structure is None:
        if not isinstance(dos, CompleteDos):
            raise ValueError(f"{material_id}: a plain Dos has no structure; pass `structure`.")
        structure = dos.structure
    densities = np.sum([np.asarray(d, dtype=float) for d in dos.densities.values()], axis=0)
    return {
        "mp_id": str(material_id),
        "structure": json.loads(structure.to_json()),
        "efermi": float(dos.efermi),
        "gap": None if gap is None else float(gap),
        "energies": np.asarray(dos.energies, dtype=float).tolist(),
        "densities": densities.tolist(),
        "source": "Materials Project",
    }


def _recorded_ids(path: Path) -> set[str]:
    """Ids already in ``path``, leaving the file ready for appending.

    A last line cut short by an interrupted write is removed, and a missing final newline
    is added.
    """
    if not path.is_file():
        return set()
    ids = set()
    good_bytes = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line) if line.strip() else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                if line.endswith(b"\n"):
                    raise ValueError(
                        f"{path}, line {number}: not valid JSON, and not the last line; the "
                        "file was not written by fetch_materials_project_dos. Repair or "
                        "remove it."
                    ) from None
                break  # the unfinished last line
            good_bytes += len(line)
            if isinstance(record, dict):
                ids.update(str(record[key]) for key in ID_KEYS if key in record)
    with path.open("r+b") as handle:
        handle.truncate(good_bytes)
        if good_bytes:
            handle.seek(good_bytes - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
    return ids


def _field(doc, name: str):
    """A field of an mp-api document, which is a pydantic model or (optionally) a dict."""
    return doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)


def _download_missing_dos(
    rester, search: dict, path: Path, recorded: set[str], exclude_magnetic: bool
):
    """Search the Materials Project and append the DOS missing from ``path`` to it.

    Parameters
    ----------
    rester : mp_api.client.MPRester
        An open client.
    search : dict
        Keyword arguments of ``rester.materials.summary.search``.
    path : pathlib.Path
        The JSON-lines file, ready for appending (see :func:`_recorded_ids`).
    recorded : set of str
        The ids in the file; those downloaded now are added.
    exclude_magnetic : bool
        Skip the materials whose summary has ``is_magnetic`` set.

    Returns
    -------
    found, magnetic, without_dos : list of str
        Ids of the materials the search found that are in the file (already, or
        downloaded now), that are magnetic and skipped, and that have no DOS, in
        the order of the ids.
    """
    found, magnetic, without_dos = [], [], []
    docs = rester.materials.summary.search(**search)
    docs = sorted(docs, key=lambda doc: str(_field(doc, "material_id")))
    with path.open("a", encoding="utf-8") as out:
        for doc in docs:
            material_id = str(_field(doc, "material_id"))
            if exclude_magnetic and _field(doc, "is_magnetic"):
                magnetic.append(material_id)
                continue
            if material_id not in recorded:
                dos = rester.get_dos_by_material_id(material_id)
                if dos is None:
                    without_dos.append(material_id)
                    continue
                record = materials_project_record(material_id, dos, gap=_field(doc, "band_gap"))
                # One complete line per material, flushed at once: an interruption
                # loses at most the line being written, which the next call removes.
                out.write(json.dumps(record) + "\n")
                out.flush()
                recorded.add(material_id)
            found.append(material_id)
    return found, magnetic, without_dos


def fetch_materials_project_dos(
    material_ids: str | list[str] | None = None,
    *,
    api_key: str | None = None,
    criteria: dict | None = None,
    data_home: str | os.PathLike | None = None,
    exclude_magnetic: bool = True,
    filename: str = MP_FILENAME,
    grid: DOSGrid | None = None,
    symprec: float = DEFAULT_SYMPREC,
    n_jobs: int | None = None,
) -> Bunch:
    """Download Materials Project electron DOS to a JSON-lines file and load them.

    The materials are found with the summary search of ``mp-api`` (only those with a
    DOS), magnetic ones are dropped if asked, and the DOS of each material not yet in the
    file is downloaded (``MPRester.get_dos_by_material_id``) and appended to the file as
    soon as it arrives, one record per line (see :func:`materials_project_record`).
    Calling again with the same query resumes an interrupted download: materials already
    in the file are not downloaded again.

    Parameters
    ----------
    material_ids : str or list of str, optional
        Materials Project ids, e.g. ``["mp-149", "mp-2534"]``.
    api_key : str, optional
        Materials Project API key. Defaults to the ``MP_API_KEY`` environment variable.
    criteria : dict, optional
        Further keyword arguments of ``MPRester().materials.summary.search``, e.g.
        ``{"elements": ["O"], "num_sites": (1, 8), "band_gap": (0.5, 3.0)}``. At least one
        of ``material_ids`` and ``criteria`` is required.
    data_home : str or path-like, optional
        Folder of the file (created if needed). Defaults to ``$DOS_ESTIMATORS_DATA``,
        else ``~/dos_estimators_data``.
    exclude_magnetic : bool, default=True
        Skip materials whose summary has ``is_magnetic`` set, as the paper does.
    filename : str, default="materials_project_dos.jsonl"
        Name of the file in ``data_home``. Use one file per data set.
    grid : DOSGrid, optional
        Grid of the returned DOS; see :func:`load_electron_dos`.
    symprec : float, default=0.1
    n_jobs : int, optional
        See :func:`load_electron_dos`.

    Returns
    -------
    sklearn.utils.Bunch
        As :func:`load_electron_dos`, restricted to the materials this query found, in
        the order of the file. ``gap`` is the summary's ``band_gap``.

    Raises
    ------
    ImportError
        If ``mp-api`` is not installed (``pip install "dos_estimators[mp]"``).
    ValueError
        If no API key is given or set, neither ``material_ids`` nor ``criteria`` is, or
        the search finds no (non-magnetic) material with a DOS.

    Warns
    -----
    UserWarning
        When requested ``material_ids`` are skipped (magnetic, or without a DOS).

    Examples
    --------
    >>> data = fetch_materials_project_dos(["mp-149", "mp-2534"])  # doctest: +SKIP
    >>> data.dos.shape  # doctest: +SKIP
    (2, 201)
    """
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise ValueError(
            "No Materials Project API key: pass api_key=... or set the "
            f"{API_KEY_ENV} environment variable (your key is on your dashboard at "
            "https://materialsproject.org/api)."
        )
    if material_ids is None and not criteria:
        raise ValueError(
            "Give material_ids or criteria: downloading every DOS of the Materials Project "
            "in one call is not supported."
        )
    if isinstance(material_ids, str):
        material_ids = [material_ids]
    try:
        from mp_api.client import MPRester
    except ImportError as err:
        raise ImportError(
            "fetch_materials_project_dos needs the Materials Project client mp-api; install "
            'it with pip install "dos_estimators[mp]".'
        ) from err

    path = get_data_home(data_home) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = _recorded_ids(path)

    search = {**(criteria or {}), "has_props": ["dos"], "fields": SEARCH_FIELDS}
    if material_ids is not None:
        search["material_ids"] = list(material_ids)
    with MPRester(api_key=api_key) as rester:
        found, magnetic, without_dos = _download_missing_dos(
            rester, search, path, recorded, exclude_magnetic
        )

    if material_ids is not None:
        seen = set(found) | set(magnetic)
        without_dos = sorted(set(without_dos) | {m for m in material_ids if m not in seen})
        if magnetic or without_dos:
            warnings.warn(
                f"Skipped {len(magnetic) + len(without_dos)} of {len(set(material_ids))} "
                f"requested materials: magnetic {magnetic}, without a DOS {without_dos}.",
                stacklevel=2,
            )
    if not found:
        raise ValueError(
            "The Materials Project search found no material with a DOS"
            + (" that is not magnetic" if exclude_magnetic else "")
            + f" (query: {search})."
        )
    data = load_electron_dos(path, grid=grid, symprec=symprec, n_jobs=n_jobs)
    return _subset(data, found)


def _subset(data: Bunch, material_ids: list[str]) -> Bunch:
    """The rows of ``data`` whose material id is in ``material_ids``, in file order."""
    wanted = set(material_ids)
    rows = [i for i, material_id in enumerate(data.material_ids) if material_id in wanted]
    subset = Bunch(**data)
    for key in ("structures", "material_ids", "crystal_systems"):
        subset[key] = [data[key][i] for i in rows]
    for key in ("dos", "efermi", "gap"):
        subset[key] = data[key][rows]
    return subset
