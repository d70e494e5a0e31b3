"""scikit-learn estimators that predict a DOS from crystal structures or feature vectors."""

from .base import DOSRegressorBase, GraphDOSRegressor, check_energies, check_targets
from .baselines import E3NNDOSRegressor, GraphNetworkDOSRegressor, MLPDOSRegressor
from .dostransformer import PAPER_PARAMS, DOSTransformerRegressor
from .reference import tree_reference
from .vector import DOSVectorRegressor

__all__ = [
    "PAPER_PARAMS",
    "DOSRegressorBase",
    "DOSTransformerRegressor",
    "DOSVectorRegressor",
    "E3NNDOSRegressor",
    "GraphDOSRegressor",
    "GraphNetworkDOSRegressor",
    "MLPDOSRegressor",
    "check_energies",
    "check_targets",
    "tree_reference",
]
