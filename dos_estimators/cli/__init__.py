"""The ``dos-estimators`` command: predict the DOS of structure files, fit a model, plot.

``main(argv)`` runs it in-process and returns the exit status: 0 when everything
succeeded, 1 when some input file (or the fit) failed, 2 for a usage error.

The modules, by job: :mod:`~dos_estimators.cli.parser` (the options),
:mod:`~dos_estimators.cli.command` (``main``), :mod:`~dos_estimators.cli.predict`,
:mod:`~dos_estimators.cli.fit` and :mod:`~dos_estimators.cli.plot` (one command each),
:mod:`~dos_estimators.cli.model` (loading ``--model`` and predicting with it),
:mod:`~dos_estimators.cli.files` (structure files and output paths),
:mod:`~dos_estimators.cli.checks` (the warnings after a prediction) and
:mod:`~dos_estimators.cli.report` (messages on stderr, exit statuses).
"""

from .checks import ABOVE_GRID_FRACTION, warn_about_predictions, warn_about_structure
from .command import main
from .fit import ESTIMATORS
from .parser import build_parser

__all__ = [
    "ABOVE_GRID_FRACTION",
    "ESTIMATORS",
    "build_parser",
    "main",
    "warn_about_predictions",
    "warn_about_structure",
]
