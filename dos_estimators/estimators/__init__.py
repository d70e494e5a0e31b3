"""scikit-learn estimators that predict a DOS from crystal structures."""

from .base import GraphDOSRegressor, check_targets
from .dostransformer import DOSTransformerRegressor

__all__ = ["DOSTransformerRegressor", "GraphDOSRegressor", "check_targets"]
