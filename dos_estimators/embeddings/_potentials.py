"""Deprecated: the old path of :mod:`dos_estimators.features.atoms.pretrained`.

Kept so that estimators pickled before the move still unpickle: it re-exports that
module's public names (pickles name classes by module and name).
"""

from ..features.atoms.pretrained import *  # noqa: F403
