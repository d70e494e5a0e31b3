"""Deprecated: the command line's warnings are now :mod:`dos_estimators.cli.checks`.

This module re-exports its names for one release and warns on import.
"""

import warnings

from .cli.checks import ABOVE_GRID_FRACTION, warn_about_predictions, warn_about_structure

__all__ = ["ABOVE_GRID_FRACTION", "warn_about_predictions", "warn_about_structure"]

warnings.warn(
    "dos_estimators.cli_checks is deprecated and will be removed in the next release; "
    "import from dos_estimators.cli.checks instead.",
    DeprecationWarning,
    stacklevel=2,
)
