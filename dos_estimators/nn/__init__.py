"""Torch modules for DOS prediction: encoders, attention blocks, read-outs, heads and models.

Nothing here knows about scikit-learn, pymatgen or files: modules take PyG batches.
"""

from .attention import CrossAttention, CrossAttentionLayer, self_attention
from .baselines import (
    E3NNDOSNetwork,
    FeatureDOSNetwork,
    GraphNetworkDOSNetwork,
    MLPDOSNetwork,
    PooledDOSNetwork,
)
from .dostransformer import DOSTransformer, DOSTransformerLoss, rmse_loss
from .encoders import CosineCutoff, GraphNetworkEncoder, GraphNetworkLayer, RadialBasis
from .equivariant import E3NNEncoder
from .heads import EnergyHead, VectorHead, dos_head
from .layers import CrystalReadout, composition_statistics, mlp, perceptron, pool

__all__ = [
    "CosineCutoff",
    "CrossAttention",
    "CrossAttentionLayer",
    "CrystalReadout",
    "DOSTransformer",
    "DOSTransformerLoss",
    "E3NNDOSNetwork",
    "E3NNEncoder",
    "EnergyHead",
    "FeatureDOSNetwork",
    "GraphNetworkDOSNetwork",
    "GraphNetworkEncoder",
    "GraphNetworkLayer",
    "MLPDOSNetwork",
    "PooledDOSNetwork",
    "RadialBasis",
    "VectorHead",
    "composition_statistics",
    "dos_head",
    "mlp",
    "perceptron",
    "pool",
    "rmse_loss",
    "self_attention",
]
