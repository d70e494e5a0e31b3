"""The DFPT phonon DOS set of 1,521 crystals (Petretto et al. 2018; Chen et al. 2021)."""

from __future__ import annotations

import ast
import json
import os

import numpy as np
import pandas as pd
from pymatgen.core import Structure
from sklearn.utils import Bunch

from ..structures import DEFAULT_SYMPREC, crystal_systems
from ._base import RemoteFile, fetch_file, structure_from_dict

PHONON_DOS = RemoteFile(
    filename="phonon_dos_e3nn.csv",
    url=(
        "https://raw.githubusercontent.com/ninarina12/phononDoS_tutorial/"
        "a5f27ff40508c0739a74d80568e1470549429e34/data.csv"
    ),
    sha256="fe19bbabc4d49f13a3fb336ee6adff9d70d66e20375cabf56fbfa31cf4da1754",
)

DESCR = """\
Phonon density of states of 1,521 crystals computed with density-functional
perturbation theory (Petretto et al., Sci. Data 5, 180065, 2018), as prepared by
Chen et al. (Adv. Sci. 2021) and used in DOSTransformer (Lee et al., NeurIPS 2023).
Each DOS is sampled at 51 frequencies from 0 to 1000 cm^-1 and scaled to a
maximum of 1.
"""


def _ase_dict_to_structure(text: str, row: int) -> Structure:
    # The column holds Python literals of ASE ``Atoms.todict()``; never eval them.
    return structure_from_dict(ast.literal_eval(text), f"Row {row}: ")


def load_phonon_dos(
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    symprec: float = DEFAULT_SYMPREC,
    n_jobs: int | None = None,
) -> Bunch:
    """Load the phonon DOS data set (1,521 crystals, 51 frequencies).

    Parameters
    ----------
    data_home : str or path-like, optional
        Folder holding ``phonon_dos_e3nn.csv``. Defaults to
        ``$DOS_ESTIMATORS_DATA``, else ``~/dos_estimators_data``.
    download_if_missing : bool, default=True
        Download the file (pinned URL, sha256-checked) when it is absent.
    symprec : float, default=0.1
        Symmetry tolerance (Å) for the crystal systems.
    n_jobs : int, optional
        Processes for the crystal-system search (about 0.5 ms per crystal; more
        processes do not pay on 2 cores, see :func:`dos_estimators.structures.crystal_systems`).

    Returns
    -------
    sklearn.utils.Bunch
        ``structures`` (list of 1,521 pymatgen ``Structure``), ``dos`` (float
        array ``(1521, 51)``, each row max-scaled to 1), ``energies`` (``(51,)``,
        0 to 1000), ``energy_unit`` (``"cm^-1"``), ``material_ids`` (list of str),
        ``crystal_systems`` (list of str), ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If the file is absent and cannot be downloaded.
    ValueError
        If the file's checksum does not match.

    Examples
    --------
    >>> data = load_phonon_dos()  # doctest: +SKIP
    >>> data.dos.shape, data.energies[:3]  # doctest: +SKIP
    ((1521, 51), array([ 0., 20., 40.]))
    """
    path = fetch_file(PHONON_DOS, data_home=data_home, download_if_missing=download_if_missing)
    frame = pd.read_csv(path)
    frequencies = np.array([json.loads(f) for f in frame["phfreq"]], dtype=float)
    if not np.allclose(frequencies, frequencies[0]):
        raise ValueError(f"{path}: rows use different frequency grids.")
    dos = np.array([json.loads(d) for d in frame["phdos"]], dtype=float)
    structures = [_ase_dict_to_structure(s, i) for i, s in enumerate(frame["structure"])]
    return Bunch(
        structures=structures,
        dos=dos,
        energies=frequencies[0],
        energy_unit="cm^-1",
        material_ids=frame["mp_id"].astype(str).tolist(),
        crystal_systems=crystal_systems(structures, symprec=symprec, n_jobs=n_jobs),
        DESCR=DESCR,
    )
