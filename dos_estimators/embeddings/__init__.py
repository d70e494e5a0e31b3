"""Deprecated: the atom embeddings moved to :mod:`dos_estimators.features.atoms`.

This package re-exports their names for one release and warns on import.
"""

import warnings

from ..features.atoms import *  # noqa: F403
from ..features.atoms import __all__  # noqa: F401

warnings.warn(
    "dos_estimators.embeddings is deprecated and will be removed in the next release; "
    "import from dos_estimators.features (or dos_estimators.features.atoms) instead.",
    DeprecationWarning,
    stacklevel=2,
)
