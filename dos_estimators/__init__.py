"""Predict the density of states of crystals from their structure, scikit-learn style."""

from . import datasets, metrics
from .estimators import DOSTransformerRegressor
from .metrics import dos_report
from .structures import CRYSTAL_SYSTEMS, crystal_system

__version__ = "0.1.0"

__all__ = [
    "CRYSTAL_SYSTEMS",
    "DOSTransformerRegressor",
    "__version__",
    "crystal_system",
    "datasets",
    "dos_report",
    "metrics",
]
