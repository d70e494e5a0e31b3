"""Phonons from pretrained universal potentials: a zero-shot DOS and a network's prior.

A universal interatomic potential whose weights ship in its wheel (SevenNet, CHGNet)
gives the forces of displaced supercells; phonopy turns them into mode frequencies;
:class:`PhononModes` puts those on any grid. :class:`PotentialPhonons` does this for
many crystals, cached on disk by content and spread over processes or a Dask cluster.
phonopy and the potentials are imported only when used (the ``phonons`` extra).
"""

from ._cache import (
    BIN_TOP,
    BIN_WIDTH,
    SETTINGS,
    PhononCache,
    modes_key,
    priors_metadata,
    read_priors,
    write_priors,
)
from ._modes import IMAGINARY_TOLERANCE, THZ_TO_CM, PhononModes, phonon_dos, supercell_for
from ._potentials import POTENTIALS, force_field, potential_versions, sevennet_model
from ._transformer import (
    FIT,
    SCALES,
    SIGMAS,
    PotentialPhonons,
    modes_on_grid,
    require_energies,
    smearing_scores,
)

__all__ = [
    "BIN_TOP",
    "BIN_WIDTH",
    "FIT",
    "IMAGINARY_TOLERANCE",
    "POTENTIALS",
    "SCALES",
    "SETTINGS",
    "SIGMAS",
    "THZ_TO_CM",
    "PhononCache",
    "PhononModes",
    "PotentialPhonons",
    "force_field",
    "modes_key",
    "modes_on_grid",
    "phonon_dos",
    "potential_versions",
    "priors_metadata",
    "read_priors",
    "require_energies",
    "sevennet_model",
    "smearing_scores",
    "supercell_for",
    "write_priors",
]
