"""Splitting crystals into training, validation and test parts.

A seeded 80/10/10 split, and scikit-learn splitters (``cv=``) for element-balanced,
formula-grouped, crystal-system and species-count (out-of-distribution) held-out parts.
"""

# Where the code lives; import the names from this package, not from its modules.
#   _train_valid_test  train_valid_test_split: the seeded random 80/10/10 split
#   _element_balanced  ElementBalancedSplit and its three-step choice of held-out crystals
#   _crystal_system    CrystalSystemSplit and LeaveOneCrystalSystemOut (by crystal system)
#   _species_count     SpeciesCountSplit (by number of distinct elements)
#   _grouped           reduced_formulas and FormulaGroupSplit (no formula on both sides)
#   _base              what the splitters share: base classes, n_splits check, messages
# The tests follow the same split: tests/test_model_selection_<module>.py, and
# tests/test_splitters.py for the splitters together with scikit-learn.

from ._crystal_system import CrystalSystemSplit, LeaveOneCrystalSystemOut
from ._element_balanced import ElementBalancedSplit
from ._grouped import FormulaGroupSplit, reduced_formulas
from ._species_count import SpeciesCountSplit
from ._train_valid_test import train_valid_test_split

__all__ = [
    "CrystalSystemSplit",
    "ElementBalancedSplit",
    "FormulaGroupSplit",
    "LeaveOneCrystalSystemOut",
    "SpeciesCountSplit",
    "reduced_formulas",
    "train_valid_test_split",
]
