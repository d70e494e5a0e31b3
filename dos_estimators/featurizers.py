"""Deprecated: crystal features moved to :mod:`dos_estimators.features.crystal`.

This module re-exports its names for one release and warns on import.
"""

import warnings

from .features.crystal import *  # noqa: F403
from .features.crystal import __all__  # noqa: F401

warnings.warn(
    "dos_estimators.featurizers is deprecated and will be removed in the next release; "
    "import from dos_estimators.features (or dos_estimators.features.crystal) instead.",
    DeprecationWarning,
    stacklevel=2,
)
