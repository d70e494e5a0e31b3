"""Predict the density of states of crystals from their structure, scikit-learn style.

Every public name is imported on first use, so ``import dos_estimators`` is quick and a
dependency that fails to import (optuna, e3nn, matminer, ...) breaks only what needs it.
"""

from typing import TYPE_CHECKING

from ._lazy import attach
from ._version import __version__

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
    "PotentialPhononRegressor",
    "__version__",
    "crystal_system",
    "datasets",
    "dos_report",
    "embeddings",
    "features",
    "load_model",
    "metrics",
    "model_selection",
    "phonons",
    "thermo",
    "tree_reference",
    "tuning",
]

__getattr__, __dir__ = attach(
    __name__,
    submodules=[
        "datasets",
        "embeddings",
        "features",
        "metrics",
        "model_selection",
        "phonons",
        "thermo",
        "tuning",
    ],
    attributes={
        "CRYSTAL_SYSTEMS": "structures",
        "PAPER_PARAMS": "estimators",
        "DOSGrid": "spectra",
        "DOSTransformerRegressor": "estimators",
        "DOSVectorRegressor": "estimators",
        "E3NNDOSRegressor": "estimators",
        "GraphNetworkDOSRegressor": "estimators",
        "MLPDOSRegressor": "estimators",
        "MatminerFeaturizer": "features.crystal",
        "PotentialPhononRegressor": "estimators",
        "crystal_system": "structures",
        "dos_report": "metrics",
        "load_model": "model_files",
        "tree_reference": "estimators",
    },
)

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from . import datasets, features, metrics, model_selection, phonons, thermo, tuning
    from .estimators import (
        PAPER_PARAMS,
        DOSTransformerRegressor,
        DOSVectorRegressor,
        E3NNDOSRegressor,
        GraphNetworkDOSRegressor,
        MLPDOSRegressor,
        PotentialPhononRegressor,
        tree_reference,
    )
    from .features.crystal import MatminerFeaturizer
    from .metrics import dos_report
    from .model_files import load_model
    from .spectra import DOSGrid
    from .structures import CRYSTAL_SYSTEMS, crystal_system
