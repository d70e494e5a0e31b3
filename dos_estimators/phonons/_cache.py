"""Where computed phonon modes are kept: a folder of entries, or a derived priors file.

Entries are keyed by the structure's content, the potential and every setting that
changes the numbers (:func:`modes_key`), never by a position in a list, so an
interrupted run resumes and another object asking for the same crystal finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..structures import structure_key
from ._modes import IMAGINARY_TOLERANCE, PhononModes

SETTINGS = ("supercell_length", "max_supercell_atoms", "displacement", "mesh")
"""The settings of :func:`~dos_estimators.phonons.phonon_dos` that a cache key holds."""

BIN_WIDTH = 5.0
"""Width in cm⁻¹ of the mode-weight bins a priors file stores."""

BIN_TOP = 1500.0
"""Top of the last bin of a priors file, in cm⁻¹; weight above it is kept as one number."""


def modes_key(structure, potential_key: str, settings: dict) -> str:
    """The hex digest that identifies a crystal's modes under a potential and settings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(structure_key(structure))
    described = {name: float(settings[name]) for name in SETTINGS}
    digest.update(json.dumps([potential_key, described], sort_keys=True).encode())
    return digest.hexdigest()


def _atomic_savez(path: Path, **arrays) -> None:
    """Write an ``.npz`` file whole or not at all (a killed run leaves no torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PhononCache:
    """Look-ups in priors files and cache folders, in order; new entries go to the first
    folder.

    Parameters
    ----------
    locations : str, path-like or list of them
        A folder (created on the first write; one ``.npz`` file per crystal) or a priors
        file written by :func:`write_priors` (read only; a path ending in ``.npz``).
    """

    def __init__(self, locations):
        if isinstance(locations, (str, os.PathLike)):
            locations = [locations]
        self.locations = [Path(location) for location in locations]
        self._files = {}

    @property
    def folder(self) -> Path | None:
        """Where new entries are written (None when every location is a priors file)."""
        return next((p for p in self.locations if p.suffix != ".npz"), None)

    def _file(self, path: Path) -> dict:
        if path not in self._files:
            if not path.is_file():
                raise FileNotFoundError(
                    f"priors file {str(path)!r} not found (cache= takes a folder, or a priors "
                    "file written by write_priors, a path ending in .npz)."
                )
            self._files[path] = read_priors(path)
        return self._files[path]

    def get(self, key: str) -> PhononModes | None:
        for location in self.locations:
            if location.suffix == ".npz":
                modes = self._file(location).get(key)
                if modes is not None:
                    return modes
                continue
            entry = location / f"{key}.npz"
            if entry.exists():
                with np.load(entry, allow_pickle=False) as stored:
                    return PhononModes(
                        frequencies=stored["frequencies"],
                        weights=stored["weights"],
                        gamma=stored["gamma"],
                        supercell=tuple(int(m) for m in stored["supercell"]),
                        n_displacements=int(stored["n_displacements"]),
                        seconds=float(stored["seconds"]),
                        potential=str(stored["potential"]),
                    )
        return None

    def put(self, key: str, modes: PhononModes) -> None:
        if self.folder is None:
            return
        _atomic_savez(
            self.folder / f"{key}.npz",
            frequencies=modes.frequencies,
            weights=modes.weights,
            gamma=modes.gamma,
            supercell=np.asarray(modes.supercell),
            n_displacements=np.asarray(modes.n_displacements),
            seconds=np.asarray(modes.seconds),
            potential=np.asarray(modes.potential),
        )


def write_priors(path, keys, modes, *, material_ids=None, metadata=None) -> None:
    """Write crystals' modes as a priors file: mode weights in 5 cm⁻¹ bins.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file, written whole or not at all.
    keys : list of str
        Each crystal's :func:`modes_key`.
    modes : list of PhononModes
    material_ids : list of str, optional
    metadata : dict, optional
        JSON-serialisable record (potential, settings, package versions, command).

    Notes
    -----
    A crystal read back has one mode per bin centre from 0 to :data:`BIN_TOP`, one
    mode holding the weight above it, and one imaginary mode holding the imaginary
    weight: :meth:`PhononModes.on_grid` then differs from the exact modes by the
    binning alone (a variance of 5²/12 cm⁻² added to the Gaussian's).
    """
    n = len(keys)
    if len(modes) != n:
        raise ValueError(f"{n} keys but {len(modes)} modes.")
    material_ids = [""] * n if material_ids is None else list(material_ids)
    top = np.array([m.fraction_above(BIN_TOP) for m in modes])
    _atomic_savez(
        Path(path),
        keys=np.asarray(keys, dtype="U32"),
        material_ids=np.asarray(material_ids, dtype=str),
        binned=np.asarray([m.binned(BIN_WIDTH, BIN_TOP) for m in modes], dtype=np.float16)
        if n
        else np.zeros((0, int(BIN_TOP / BIN_WIDTH)), dtype=np.float16),
        above=top,
        imaginary=np.array([m.imaginary_fraction for m in modes]),
        seconds=np.array([m.seconds for m in modes]),
        n_displacements=np.array([m.n_displacements for m in modes], dtype=np.int64),
        supercells=np.array([m.supercell for m in modes], dtype=np.int64).reshape(n, 3),
        bin_width=np.asarray(BIN_WIDTH),
        bin_top=np.asarray(BIN_TOP),
        metadata=np.asarray(json.dumps(metadata or {}, sort_keys=True)),
    )


def read_priors(path) -> dict[str, PhononModes]:
    """A priors file's crystals: {modes key: PhononModes} (see :func:`write_priors`)."""
    with np.load(path, allow_pickle=False) as stored:
        # Each array read once: indexing the lazy file decompresses the whole array again.
        arrays = {name: stored[name] for name in stored.files}
    width, top = float(arrays["bin_width"]), float(arrays["bin_top"])
    centres = np.arange(width / 2, top, width)
    extra = np.array([top + width / 2, -(IMAGINARY_TOLERANCE + width)])
    frequencies = np.concatenate([centres, extra])
    weights = np.column_stack(
        [arrays["binned"].astype(np.float64), arrays["above"], arrays["imaginary"]]
    )
    potential = str(json.loads(str(arrays["metadata"])).get("potential_key", ""))
    return {
        str(key): PhononModes(
            frequencies=frequencies,
            weights=weights[i],
            supercell=tuple(int(m) for m in arrays["supercells"][i]),
            n_displacements=int(arrays["n_displacements"][i]),
            seconds=float(arrays["seconds"][i]),
            potential=potential,
        )
        for i, key in enumerate(arrays["keys"])
    }


def priors_metadata(path) -> dict:
    """The JSON record stored in a priors file (potential, settings, versions, command)."""
    with np.load(path, allow_pickle=False) as stored:
        return json.loads(str(stored["metadata"]))
