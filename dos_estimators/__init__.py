"""Predict the density of states of crystals from their structure, scikit-learn style."""

from . import datasets, metrics, model_selection, thermo, tuning
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
from .model_files import load_model
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
    "load_model",
    "metrics",
    "model_selection",
    "thermo",
    "tree_reference",
    "tuning",
]
