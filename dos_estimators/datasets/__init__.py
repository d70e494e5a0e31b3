"""Data sets of crystal structures and their densities of states.

Loaders return a scikit-learn ``Bunch`` of plain arrays, lists of pymatgen
``Structure`` and metadata; files are found with :func:`get_data_home`.
"""

from ._base import DATA_ENV, get_data_home
from ._phonon import PHONON_DOS, load_phonon_dos

__all__ = ["DATA_ENV", "PHONON_DOS", "get_data_home", "load_phonon_dos"]
