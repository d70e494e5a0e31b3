"""Torch modules for DOS prediction: encoders, attention blocks, read-outs, heads and models.

Nothing here knows about scikit-learn, pymatgen or files: modules take PyG batches.
"""

from .attention import (
    ATTENTIONS,
    CrossAttention,
    CrossAttentionLayer,
    PaperAttentionLayer,
    self_attention,
)
from .baselines import (
    E3NNDOSNetwork,
    FeatureDOSNetwork,
    GraphNetworkDOSNetwork,
    MLPDOSNetwork,
    PooledDOSNetwork,
)
from .dostransformer import FUSIONS, HEADS, PROMPTS, DOSTransformer, DOSTransformerLoss, rmse_loss
from .encoders import (
    EDGE_BASES,
    ENCODERS,
    CosineCutoff,
    GraphNetworkEncoder,
    GraphNetworkLayer,
    PaperGraphNetworkEncoder,
    PaperGraphNetworkLayer,
    RadialBasis,
    SmoothCutoff,
    SphericalEdgeBasis,
)
from .energy import (
    ENERGY_ENCODINGS,
    ContinuousEnergyEncoding,
    LearnedEnergyEncoding,
    SinusoidalEnergyEncoding,
)
from .equivariant import E3NNEncoder
from .heads import EnergyHead, VectorHead, dos_head
from .layers import (
    ATOM_ENCODER_INPUT,
    CrystalReadout,
    composition_statistics,
    mlp,
    perceptron,
    pool,
    with_encoded_atoms,
)

__all__ = [
    "ATOM_ENCODER_INPUT",
    "ATTENTIONS",
    "EDGE_BASES",
    "ENCODERS",
    "ENERGY_ENCODINGS",
    "FUSIONS",
    "HEADS",
    "PROMPTS",
    "ContinuousEnergyEncoding",
    "LearnedEnergyEncoding",
    "PaperAttentionLayer",
    "PaperGraphNetworkEncoder",
    "PaperGraphNetworkLayer",
    "SinusoidalEnergyEncoding",
    "SmoothCutoff",
    "SphericalEdgeBasis",
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
    "with_encoded_atoms",
]
