"""Write the model-file fixtures that tests/test_model_files.py loads.

Run once, with the package version whose files must keep loading (2026-12-03, main at
cf72d18, model-file format version 1), from the repository root:

    python tests/data/make_model_files.py

Each fixture is a tiny fitted regressor on the test suite's eight crystals, saved with
``save``, beside the predictions it made before saving (``<name>.npy``); and one
pickled with ``pickle.dump`` (``dostransformer_chgnet_v1.pkl``, with CHGNet node
features), which tests/test_features_atoms.py unpickles.
"""

import pickle
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conftest import TINY_TRANSFORMER, tiny_dataset  # noqa: E402

from dos_estimators import (  # noqa: E402
    DOSTransformerRegressor,
    DOSVectorRegressor,
    GraphNetworkDOSRegressor,
)

TRAINING = dict(max_epochs=2, patience=None, batch_size=4, random_state=0)
TINY = dict(
    hidden=16, n_heads=2, n_gnn_layers=1, n_cross_layers=1, n_self_layers=1, n_cross_layers_out=1
)
FIXTURES = {
    "dostransformer_v1": lambda: DOSTransformerRegressor(
        node_features=("magpie", "onehot"), n_ensemble=2, **TINY, **TRAINING
    ),
    "graph_network_v1": lambda: GraphNetworkDOSRegressor(
        node_features="magpie", hidden=16, n_layers=1, **TRAINING
    ),
    "vector_v1": lambda: DOSVectorRegressor(hidden=16, n_layers=1, **TRAINING),
}


def inputs(name, structures):
    """The crystals, or for the vector regressor a small numeric table made from them."""
    if name.startswith("vector"):
        return np.array([[s.volume / len(s), s.density, len(s)] for s in structures])
    return structures


def main():
    structures, y = tiny_dataset()
    for name, make in FIXTURES.items():
        X = inputs(name, structures)
        model = make().fit(X, y)
        model.save(HERE / f"{name}.safetensors")
        np.save(HERE / f"{name}.npy", model.predict(X))
    chgnet = DOSTransformerRegressor(**{**TINY_TRANSFORMER, "node_features": ("magpie", "chgnet")})
    chgnet.fit(structures, y)
    with open(HERE / "dostransformer_chgnet_v1.pkl", "wb") as file:
        pickle.dump(chgnet, file)
    np.save(HERE / "dostransformer_chgnet_v1.npy", chgnet.predict(structures))


if __name__ == "__main__":
    main()
