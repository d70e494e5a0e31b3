"""Data sets of crystal structures and their densities of states.

Loaders return a scikit-learn ``Bunch`` of plain arrays, lists of pymatgen
``Structure`` and metadata; files are found with :func:`get_data_home`.
"""

from ._base import DATA_ENV, get_data_home
from ._electron import load_electron_dos
from ._materials_project import fetch_materials_project_dos, materials_project_record
from ._phonon import PHONON_DOS, load_phonon_dos

__all__ = [
    "DATA_ENV",
    "PHONON_DOS",
    "fetch_materials_project_dos",
    "get_data_home",
    "load_electron_dos",
    "load_phonon_dos",
    "materials_project_record",
]
