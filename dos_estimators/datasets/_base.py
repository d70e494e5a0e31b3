"""Where data files live and how they are fetched.

Follows scikit-learn's ``get_data_home`` convention: an explicit ``data_home``,
else ``$DOS_ESTIMATORS_DATA``, else ``~/dos_estimators_data``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from ..structures import as_structure

DATA_ENV = "DOS_ESTIMATORS_DATA"
DEFAULT_DATA_HOME = "~/dos_estimators_data"


@dataclass(frozen=True)
class RemoteFile:
    """A data file with a pinned download address and checksum."""

    filename: str
    url: str
    sha256: str


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds the data files, creating nothing.

    Parameters
    ----------
    data_home : str or path-like, optional
        Explicit folder. Defaults to ``$DOS_ESTIMATORS_DATA`` if set, else
        ``~/dos_estimators_data``.

    Returns
    -------
    pathlib.Path
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV) or DEFAULT_DATA_HOME
    return Path(data_home).expanduser()


def fetch_file(
    remote: RemoteFile, data_home: str | os.PathLike | None = None, download_if_missing: bool = True
) -> Path:
    """Return the local path of ``remote``, downloading it if missing and allowed.

    The file is checked against its sha256 whether it was found or downloaded.

    Parameters
    ----------
    remote : RemoteFile
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    download_if_missing : bool, default=True

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the file is absent and cannot (or may not) be downloaded.
    ValueError
        If the file's checksum differs from the pinned one.
    """
    import pooch

    folder = get_data_home(data_home)
    path = folder / remote.filename
    where = (
        f"Expected {path} (set `data_home` or the {DATA_ENV} environment variable to the "
        f"folder that holds {remote.filename}; the file is published at {remote.url})."
    )
    if path.is_file():
        digest = pooch.file_hash(str(path), alg="sha256")
        if digest != remote.sha256:
            raise ValueError(
                f"Checksum mismatch for {path}: sha256 {digest}, expected {remote.sha256}. "
                f"The file is corrupted or another version; delete it to download it again "
                f"from {remote.url}, or point {DATA_ENV} at a good copy."
            )
        return path
    if not download_if_missing:
        raise FileNotFoundError(
            f"{remote.filename} not found and download_if_missing=False. {where}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fetched = pooch.retrieve(
            remote.url,
            known_hash=f"sha256:{remote.sha256}",
            fname=remote.filename,
            path=str(folder),
            progressbar=False,
        )
    except ValueError as err:  # pooch's checksum failure
        raise ValueError(
            f"Downloaded {remote.filename} failed its checksum: {err}. {where}"
        ) from err
    except Exception as err:  # network and file-system failures
        raise FileNotFoundError(
            f"{remote.filename} is missing and could not be downloaded ({type(err).__name__}: "
            f"{err}). {where}"
        ) from err
    return Path(fetched)


def structure_from_dict(structure: dict, where: str = "") -> Structure:
    """A ``Structure`` from a pymatgen ``Structure.as_dict()`` or an ASE ``Atoms.todict()``.

    Parameters
    ----------
    structure : dict
    where : str, default=""
        Prefix of error messages naming the record (e.g. ``"data.jsonl, line 3: "``).

    Returns
    -------
    pymatgen.core.Structure

    Raises
    ------
    ValueError
        If the dict is of neither kind, not periodic, its arrays do not fit together, or
        the structure fails :func:`~dos_estimators.structures.as_structure`'s checks.
    """
    if not isinstance(structure, dict):
        raise ValueError(f"{where}'structure' must be a dict, got {type(structure).__name__}.")
    is_ase = {"numbers", "positions", "cell"} <= structure.keys()
    if is_ase:
        pbc = structure.get("pbc", True)
        if not all(np.broadcast_to(np.asarray(pbc, dtype=bool), 3)):
            raise ValueError(
                f"{where}the ASE Atoms dict is not periodic in all directions "
                f"(pbc={pbc}); a crystal needs pbc=True."
            )
    try:
        if "lattice" in structure and "sites" in structure:
            built = Structure.from_dict(structure)
        elif is_ase:
            built = Structure(
                structure["cell"],
                structure["numbers"],
                structure["positions"],
                coords_are_cartesian=True,
            )
        else:
            built = None
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}cannot build a structure: {err}") from err
    if built is not None:
        # The checks every estimator makes (disorder, overlapping atoms, degenerate cell),
        # made here so that the message names the record.
        try:
            return as_structure(built)
        except ValueError as err:
            raise ValueError(f"{where}{err}") from None
    raise ValueError(
        f"{where}'structure' is neither a pymatgen Structure dict ('lattice', 'sites') nor an "
        f"ASE Atoms dict ('numbers', 'positions', 'cell'); its keys are {sorted(structure)}."
    )
