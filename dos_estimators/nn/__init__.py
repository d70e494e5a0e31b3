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
from .dostransformer import PRIOR_READOUTS, DOSTransformer, DOSTransformerLoss, rmse_loss
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
    graph_encoder,
)
from .energy import (
    ENERGY_ENCODINGS,
    ContinuousEnergyEncoding,
    LearnedEnergyEncoding,
    SinusoidalEnergyEncoding,
)
from .equivariant import E3NNEncoder
from .fusion import FUSIONS, ConcatFusion, TokenFusion, context_fusion
from .heads import HEADS, EnergyHead, VectorHead, dos_head, token_decoder
from .layers import (
    ATOM_ENCODER_INPUT,
    CrystalReadout,
    composition_statistics,
    mlp,
    perceptron,
    pool,
    with_encoded_atoms,
)
from .prompts import PROMPTS, lookup_prompts, onehot_prompts, prompt_width

__all__ = [
    "ATOM_ENCODER_INPUT",
    "ATTENTIONS",
    "EDGE_BASES",
    "ENCODERS",
    "ENERGY_ENCODINGS",
    "FUSIONS",
    "HEADS",
    "PRIOR_READOUTS",
    "PROMPTS",
    "ContinuousEnergyEncoding",
    "LearnedEnergyEncoding",
    "PaperAttentionLayer",
    "PaperGraphNetworkEncoder",
    "PaperGraphNetworkLayer",
    "SinusoidalEnergyEncoding",
    "SmoothCutoff",
    "TokenFusion",
    "SphericalEdgeBasis",
    "ConcatFusion",
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
    "context_fusion",
    "dos_head",
    "graph_encoder",
    "lookup_prompts",
    "mlp",
    "onehot_prompts",
    "perceptron",
    "pool",
    "prompt_width",
    "rmse_loss",
    "self_attention",
    "token_decoder",
    "with_encoded_atoms",
]
