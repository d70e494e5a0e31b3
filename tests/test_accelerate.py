"""device="accelerate": training through Hugging Face accelerate (skorch's AccelerateMixin).

On this CPU-only machine accelerate runs one process; the test checks that the path
trains, predicts what the plain CPU path predicts, pickles and saves, and refuses what
it cannot do. Several GPUs: docs/user_guide.md, "Several GPUs".
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from conftest import tiny_dataset

from dos_estimators import DOSTransformerRegressor, GraphNetworkDOSRegressor, load_model
from dos_estimators.estimators.base import DOSNeuralNet

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden=8, max_epochs=3, batch_size=2, random_state=0)


@pytest.mark.parametrize("cls", [GraphNetworkDOSRegressor, DOSTransformerRegressor])
def test_accelerate_trains_as_the_plain_path_does(cls, tmp_path, capsys):
    pytest.importorskip("accelerate")
    X, y = tiny_dataset()
    accelerated = cls(device="accelerate", **SMALL).fit(X, y)
    assert capsys.readouterr().out == ""  # verbose=0 prints nothing, as on the plain path
    plain = cls(**SMALL).fit(X, y)
    prediction = accelerated.predict(X)
    np.testing.assert_allclose(prediction, plain.predict(X), atol=1e-6)
    # The trained networks are plain nets: they pickle and save like any other.
    assert all(type(net) is DOSNeuralNet for net in accelerated.nets_)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(accelerated)).predict(X), prediction)
    accelerated.save(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(load_model(tmp_path / "model.safetensors").predict(X), prediction)


def test_accelerate_refuses_checkpoints(tmp_path):
    pytest.importorskip("accelerate")
    X, y = tiny_dataset()
    model = GraphNetworkDOSRegressor(device="accelerate", checkpoint_dir=tmp_path, **SMALL)
    with pytest.raises(ValueError, match="checkpoint_dir cannot be used with device='accelerate'"):
        model.fit(X, y)


def test_accelerate_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    X, y = tiny_dataset()
    with pytest.raises(ImportError, match=r"dos_estimators\[accelerate\]"):
        GraphNetworkDOSRegressor(device="accelerate", **SMALL).fit(X, y)


def test_accelerate_fine_tunes_a_potential_as_the_plain_path_does():
    pytest.importorskip("accelerate")
    pytest.importorskip("chgnet")
    from dos_estimators.features import CHGNetAtomEmbedding

    X, y = tiny_dataset()
    params = {**SMALL, "node_features": ["magpie", CHGNetAtomEmbedding(fine_tune=0.5)]}
    accelerated = GraphNetworkDOSRegressor(device="accelerate", **params).fit(X, y)
    plain = GraphNetworkDOSRegressor(**params).fit(X, y)
    np.testing.assert_allclose(accelerated.predict(X), plain.predict(X), atol=1e-5)
