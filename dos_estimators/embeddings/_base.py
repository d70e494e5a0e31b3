"""Deprecated: the old path of :mod:`dos_estimators.features.atoms.union`.

Kept so that estimators pickled before the move still unpickle: this name stands for
that module itself.
"""

import sys

from ..features.atoms import union

sys.modules[__name__] = union
