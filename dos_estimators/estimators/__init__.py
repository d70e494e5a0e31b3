"""scikit-learn estimators that predict a DOS from crystal structures or feature vectors.

The names are imported on first use: ``tree_reference`` needs matminer and
``E3NNDOSRegressor`` e3nn only when used, and the others need neither.
"""

from typing import TYPE_CHECKING

from .._lazy import attach

__all__ = [
    "PAPER_PARAMS",
    "DOSRegressorBase",
    "DOSTransformerRegressor",
    "DOSVectorRegressor",
    "E3NNDOSRegressor",
    "GraphDOSRegressor",
    "GraphNetworkDOSRegressor",
    "MLPDOSRegressor",
    "PotentialPhononRegressor",
    "check_energies",
    "check_targets",
    "tree_reference",
]

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "PAPER_PARAMS": "dostransformer",
        "DOSRegressorBase": "base",
        "DOSTransformerRegressor": "dostransformer",
        "DOSVectorRegressor": "vector",
        "E3NNDOSRegressor": "baselines",
        "GraphDOSRegressor": "base",
        "GraphNetworkDOSRegressor": "baselines",
        "MLPDOSRegressor": "baselines",
        "PotentialPhononRegressor": "potential",
        "check_energies": "validation",
        "check_targets": "validation",
        "tree_reference": "reference",
    },
)

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from .base import DOSRegressorBase, GraphDOSRegressor
    from .baselines import E3NNDOSRegressor, GraphNetworkDOSRegressor, MLPDOSRegressor
    from .dostransformer import PAPER_PARAMS, DOSTransformerRegressor
    from .potential import PotentialPhononRegressor
    from .reference import tree_reference
    from .validation import check_energies, check_targets
    from .vector import DOSVectorRegressor
