"""Torch modules for DOS prediction: encoders, attention blocks, read-outs and models.

Nothing here knows about scikit-learn, pymatgen or files: modules take PyG batches.
"""

from .attention import CrossAttention, CrossAttentionLayer, self_attention
from .dostransformer import DOSTransformer, DOSTransformerLoss, rmse_loss
from .encoders import CosineCutoff, GraphNetworkEncoder, GraphNetworkLayer, RadialBasis
from .layers import CrystalReadout, composition_statistics, mlp, pool

__all__ = [
    "CosineCutoff",
    "CrossAttention",
    "CrossAttentionLayer",
    "CrystalReadout",
    "DOSTransformer",
    "DOSTransformerLoss",
    "GraphNetworkEncoder",
    "GraphNetworkLayer",
    "RadialBasis",
    "composition_statistics",
    "mlp",
    "pool",
    "rmse_loss",
    "self_attention",
]
