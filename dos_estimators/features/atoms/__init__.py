"""Node features beyond element tables: learned and pretrained atom embeddings.

Every class here follows the node-feature protocol (``fit(structures, y=None)``,
``transform(structures) -> list of (n_atoms, F) arrays``) and plugs into any
structure estimator as ``node_features=``, alone or in a list with table names
(``node_features=["magpie", "chgnet"]`` concatenates both per atom). The pretrained
potentials can also be fine-tuned inside the estimator's network
(``CHGNetAtomEmbedding(fine_tune=1.0)``).
"""

from .contrastive import ContrastiveAtomEmbedding
from .learned import site_descriptors
from .pretrained import (
    CHGNetAtomEmbedding,
    PotentialAtomEmbedding,
    PotentialEncoder,
    SevenNetAtomEmbedding,
)
from .union import (
    CACHE,
    EMBEDDINGS,
    ElementEmbedding,
    FeatureCache,
    NodeFeatureUnion,
    check_node_features,
    is_table,
)
from .vae import VAEAtomEmbedding

__all__ = [
    "CACHE",
    "EMBEDDINGS",
    "CHGNetAtomEmbedding",
    "ContrastiveAtomEmbedding",
    "ElementEmbedding",
    "FeatureCache",
    "NodeFeatureUnion",
    "PotentialAtomEmbedding",
    "PotentialEncoder",
    "SevenNetAtomEmbedding",
    "VAEAtomEmbedding",
    "check_node_features",
    "is_table",
    "site_descriptors",
]
