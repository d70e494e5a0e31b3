"""Features of crystals and their atoms, in one package.

- :mod:`.elements`: element tables (Magpie, Matscholar, MEGNet, CGCNN, one-hot), a
  feature vector per atomic number;
- :mod:`.crystal`: crystal features from matminer (``MatminerFeaturizer``,
  ``crystal_features=`` of the estimators);
- :mod:`.atoms`: per-atom embeddings, learned (VAE, contrastive) and pretrained
  (CHGNet, SevenNet), and ``NodeFeatureUnion``, the ``node_features=`` of the
  estimators.

Every public name is imported on first use. The old homes ``dos_estimators.featurizers``
and ``dos_estimators.embeddings`` still work for one release and warn.
"""

from .._lazy import attach

__all__ = [
    "CACHE",
    "CHGNetAtomEmbedding",
    "CRYSTAL_FEATURES",
    "ContrastiveAtomEmbedding",
    "CrystalFeatures",
    "EMBEDDINGS",
    "ElementEmbedding",
    "ElementTable",
    "FeatureCache",
    "MAX_Z",
    "MatminerFeaturizer",
    "NODE_FEATURES",
    "NodeFeatureUnion",
    "PotentialAtomEmbedding",
    "PotentialEncoder",
    "SOURCES",
    "SevenNetAtomEmbedding",
    "VAEAtomEmbedding",
    "atomic_masses",
    "check_crystal_features",
    "check_node_features",
    "element_table",
    "is_table",
    "magpie_density_features",
    "site_descriptors",
    "unfitted_copy",
]

__getattr__, __dir__ = attach(
    __name__,
    submodules=["atoms", "crystal", "elements"],
    attributes={
        "MAX_Z": "elements",
        "NODE_FEATURES": "elements",
        "ElementTable": "elements",
        "atomic_masses": "elements",
        "element_table": "elements",
        "CRYSTAL_FEATURES": "crystal",
        "SOURCES": "crystal",
        "CrystalFeatures": "crystal",
        "MatminerFeaturizer": "crystal",
        "check_crystal_features": "crystal",
        "magpie_density_features": "crystal",
        "unfitted_copy": "crystal",
        "CACHE": "atoms",
        "EMBEDDINGS": "atoms",
        "CHGNetAtomEmbedding": "atoms",
        "ContrastiveAtomEmbedding": "atoms",
        "ElementEmbedding": "atoms",
        "FeatureCache": "atoms",
        "NodeFeatureUnion": "atoms",
        "PotentialAtomEmbedding": "atoms",
        "PotentialEncoder": "atoms",
        "SevenNetAtomEmbedding": "atoms",
        "VAEAtomEmbedding": "atoms",
        "check_node_features": "atoms",
        "is_table": "atoms",
        "site_descriptors": "atoms",
    },
)
