"""Predict the density of states of crystals from their structure, scikit-learn style."""

from . import datasets, metrics, model_selection, tuning
from .estimators import (
    PAPER_PARAMS,
    DOSTransformerRegressor,
    DOSVectorRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
    tree_reference,
)
from .featurizers import MatminerFeaturizer
from .metrics import dos_report
from .spectra import DOSGrid
from .structures import CRYSTAL_SYSTEMS, crystal_system

__version__ = "0.1.0"

__all__ = [
    "CRYSTAL_SYSTEMS",
    "PAPER_PARAMS",
    "DOSGrid",
    "DOSTransformerRegressor",
    "DOSVectorRegressor",
    "E3NNDOSRegressor",
    "GraphNetworkDOSRegressor",
    "MLPDOSRegressor",
    "MatminerFeaturizer",
    "__version__",
    "crystal_system",
    "datasets",
    "dos_report",
    "metrics",
    "model_selection",
    "tree_reference",
    "tuning",
]
