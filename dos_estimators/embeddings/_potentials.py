"""Deprecated: the old path of :mod:`dos_estimators.features.atoms.pretrained`.

Kept so that estimators pickled before the move still unpickle: this name stands for
that module itself.
"""

import sys

from ..features.atoms import pretrained

sys.modules[__name__] = pretrained
