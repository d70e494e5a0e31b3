"""Model files (``save`` / ``load_model``) and ensemble standard deviations (``return_std``).

Every regressor is fitted once per module, tiny (16 wide, 2 epochs) and with two
ensemble members, on :func:`conftest.tiny_dataset` (feature rows for the vector regressor).
"""

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_dataset
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

import dos_estimators
from dos_estimators import (
    DOSTransformerRegressor,
    DOSVectorRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
    load_model,
)
from dos_estimators._serialization import FORMAT_VERSION, serialize
from dos_estimators.estimators.base import DOSDataset

# Two epochs end every fit at its best epoch so far: the ConvergenceWarning is expected.
# Some tests train on part of the crystals; predict then says which systems it never saw.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:.*crystal systems that training never saw:UserWarning"),
]

TRAINING = dict(max_epochs=2, patience=None, batch_size=4, random_state=0)
TRANSFORMER = dict(
    hidden=16, n_heads=2, n_gnn_layers=1, n_cross_layers=1, n_self_layers=1, n_cross_layers_out=1
)
# name: (class, tiny architecture). "dostransformer_released" has shared paths (modules
# registered twice in the state dict), one-hot prompts and the released code's layers.
ESTIMATORS = {
    "dostransformer": (DOSTransformerRegressor, TRANSFORMER),
    "dostransformer_released": (
        DOSTransformerRegressor,
        {
            **TRANSFORMER,
            "encoder": "paper",
            "edge_basis": "spherical",
            "attention": "paper",
            "fusion": "concat",
            "share_paths": True,
            "prompt": "onehot",
            "heads": "linear",
            "self_loops": True,
            "energy_encoding": "sinusoidal",
        },
    ),
    "mlp": (MLPDOSRegressor, dict(hidden=16, n_layers=2, use_energy=True)),
    "graph_network": (GraphNetworkDOSRegressor, dict(hidden=16, n_layers=1)),
    "e3nn": (E3NNDOSRegressor, dict(hidden=8, embedding=8, mul=2, n_layers=1, radial_neurons=8)),
    "vector": (DOSVectorRegressor, dict(hidden=16, n_layers=1)),
}


def build(name: str, **overrides):
    cls, architecture = ESTIMATORS[name]
    return cls(**{**architecture, **TRAINING, **overrides})


def inputs_for(name: str, structures):
    """The crystals themselves, or (vector regressor) a feature table with named columns."""
    if name != "vector":
        return structures
    rows = np.random.default_rng(1).normal(size=(len(structures), 5))
    return pd.DataFrame(rows, columns=[f"feature_{i}" for i in range(5)])


def fitted_attributes(estimator) -> dict:
    return {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_") and key not in ("net_", "nets_")
    }


def assert_same_attributes(a, b) -> None:
    first, second = fitted_attributes(a), fitted_attributes(b)
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert type(second[key]) is type(value), key
        if isinstance(value, np.ndarray):
            assert value.dtype == second[key].dtype, key
            assert np.array_equal(value, second[key]), key
        elif isinstance(value, BaseEstimator):  # fitted node features: equal parameters
            assert repr(second[key].get_params()) == repr(value.get_params()), key
        else:
            assert second[key] == value, key


def assert_same_networks(a, b) -> None:
    assert len(a.nets_) == len(b.nets_)
    assert b.net_ is b.nets_[0]
    for net, loaded in zip(a.nets_, b.nets_, strict=True):
        state, loaded_state = net.module_.state_dict(), loaded.module_.state_dict()
        assert state.keys() == loaded_state.keys()
        for key, tensor in state.items():
            assert tensor.dtype == loaded_state[key].dtype, key
            assert torch.equal(tensor, loaded_state[key]), key
        seed = net.iterator_train__generator.initial_seed()
        assert loaded.iterator_train__generator.initial_seed() == seed
        assert loaded.history.to_list() == net.history.to_list()


def reloaded(model, path):
    """``model`` saved at ``path`` and loaded back, checked equal in every stored part."""
    model.save(path)
    loaded = dos_estimators.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert_same_attributes(model, loaded)
    assert_same_networks(model, loaded)
    return loaded


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


@pytest.fixture(scope="module", params=list(ESTIMATORS))
def name(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(name, data):
    """Row ``name`` of :data:`ESTIMATORS`, fitted with two ensemble members."""
    structures, y = data
    return build(name, n_ensemble=2).fit(inputs_for(name, structures), y)


def signed_copy(path, target, *, change=None, format_version=FORMAT_VERSION):
    """Rewrite a model file at ``target`` with a valid checksum after ``change(document)``."""
    with safe_open(str(path), framework="pt") as file:
        document = json.loads(file.metadata()["estimator"])
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    if change is not None:
        change(document)
    target.write_bytes(
        serialize(
            document,
            tensors,
            package_version=dos_estimators.__version__,
            format_version=format_version,
        )
    )
    return target


# -- round trips ---------------------------------------------------------------------------
def test_round_trip_is_bit_identical(name, fitted, data, tmp_path):
    structures, y = data
    X = inputs_for(name, structures)
    loaded = reloaded(fitted, tmp_path / "model.safetensors")
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.score(X, y) == fitted.score(X, y)
    mean, std = loaded.predict(X, return_std=True)
    expected_mean, expected_std = fitted.predict(X, return_std=True)
    assert np.array_equal(mean, expected_mean) and np.array_equal(std, expected_std)


def test_round_trip_of_a_single_network(data, tmp_path):
    structures, y = data
    model = build("dostransformer", n_ensemble=1).fit(structures, y)
    loaded = reloaded(model, tmp_path / "one.safetensors")
    assert len(loaded.nets_) == 1
    assert np.array_equal(loaded.predict(structures), model.predict(structures))


def test_modules_registered_twice_are_stored_once(data, tmp_path):
    structures, y = data
    model = build("dostransformer_released").fit(structures, y)
    model.save(tmp_path / "shared.safetensors")
    with safe_open(str(tmp_path / "shared.safetensors"), framework="pt") as file:
        aliases = json.loads(file.metadata()["estimator"])["members"][0]["aliases"]
        stored = set(file.keys())
    assert aliases and all(alias.startswith("system_path.") for alias in aliases)
    assert {f"nets.0.{target}" for target in aliases.values()} <= stored
    assert not {f"nets.0.{alias}" for alias in aliases} & stored
    loaded = load_model(tmp_path / "shared.safetensors")
    module = loaded.net_.module_
    assert module.system_path is module.global_path  # still one module, as built
    assert np.array_equal(loaded.predict(structures), model.predict(structures))


def test_save_writes_exactly_path_and_nothing_else(data, tmp_path):
    structures, y = data
    model = build("mlp").fit(structures, y)
    path = tmp_path / "model without suffix"
    model.save(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    size = path.stat().st_size
    model.save(path)  # overwrites in place
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert path.stat().st_size == size
    # A standard safetensors file: its tools list the weights and the metadata.
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata()
        assert all(key.startswith("nets.0.") for key in file.keys())  # noqa: SIM118
    assert metadata["format_version"] == str(FORMAT_VERSION)
    assert metadata["dos_estimators_version"] == dos_estimators.__version__
    assert len(metadata["sha256"]) == 64


def test_continuous_energies_predict_on_another_grid_after_loading(data, tmp_path):
    structures, y = data
    grid = np.linspace(0.0, 30.0, y.shape[1])
    model = build("dostransformer", energy_encoding="continuous", n_ensemble=2)
    model.fit(structures, y, energies=grid)
    model.save(tmp_path / "continuous.safetensors")
    loaded = load_model(tmp_path / "continuous.safetensors")
    fine = np.linspace(-1.0, 31.0, 50)
    assert np.array_equal(loaded.energies_, grid)
    prediction = loaded.predict(structures, energies=fine)
    assert prediction.shape == (len(structures), 50)
    assert np.array_equal(prediction, model.predict(structures, energies=fine))
    mean, std = loaded.predict(structures, energies=fine, return_std=True)
    assert mean.shape == std.shape == (len(structures), 50)
    # The training grid is back in place after predicting on another one.
    assert np.array_equal(loaded.predict(structures), model.predict(structures))


def test_fine_tune_after_loading(data, tmp_path):
    structures, y = data
    model = build("dostransformer", n_ensemble=2).fit(structures[:5], y[:5])
    model.save(tmp_path / "before.safetensors")
    loaded = load_model(tmp_path / "before.safetensors")

    # Crystals of systems the first five did not have, so new prompts are learned.
    new, targets = structures[5:], y[5:]
    model.fine_tune(new, targets, max_epochs=2)
    loaded.fine_tune(new, targets, max_epochs=2)
    assert loaded.crystal_systems_ == model.crystal_systems_
    assert np.array_equal(loaded.predict(structures), model.predict(structures))

    # A fine-tuned model saves and loads like any other.
    again = reloaded(loaded, tmp_path / "after.safetensors")
    assert np.array_equal(again.predict(structures), model.predict(structures))


def test_load_model_moves_the_networks_to_another_device(data, tmp_path):
    # A model trained on a GPU loads on a machine without one.
    structures, y = data
    model = build("mlp").fit(structures, y)
    model.save(tmp_path / "model.safetensors")

    def on_gpu(document):
        document["params"]["device"] = "cuda:0"

    gpu_file = signed_copy(
        tmp_path / "model.safetensors", tmp_path / "gpu.safetensors", change=on_gpu
    )
    loaded = load_model(gpu_file, device="cpu")
    assert loaded.get_params()["device"] == "cpu"
    assert np.array_equal(loaded.predict(structures), model.predict(structures))


def test_loading_never_unpickles(data, tmp_path, monkeypatch):
    structures, y = data
    model = build("dostransformer", n_ensemble=2).fit(structures, y)
    model.save(tmp_path / "model.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("load_model unpickled something")

    with monkeypatch.context() as patch:
        for name in ("load", "loads", "Unpickler"):
            patch.setattr(pickle, name, refuse)
        patch.setattr(torch, "load", refuse)
        loaded = load_model(tmp_path / "model.safetensors")
        prediction = loaded.predict(structures)
    assert np.array_equal(prediction, model.predict(structures))


# -- refused files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """A small fitted model's file and its bytes."""
    structures, y = data
    path = tmp_path_factory.mktemp("saved") / "model.safetensors"
    build("graph_network").fit(structures, y).save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize("where", ["last weight byte", "first weight byte", "a parameter"])
def test_a_tampered_file_is_refused(saved, tmp_path, where):
    path, blob = saved
    blob = bytearray(blob)
    if where == "a parameter":
        start = blob.index(b'\\"hidden\\":16')
        blob[start : start + 13] = b'\\"hidden\\":17'
    else:
        n_header = int.from_bytes(blob[:8], "little")
        index = -1 if where == "last weight byte" else 8 + n_header
        blob[index] ^= 0x01
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="modified or corrupted.*checksum"):
        load_model(tampered)


@pytest.mark.parametrize("keep", [0, 5, 100, -1])
def test_a_truncated_file_is_refused(saved, tmp_path, keep):
    path, blob = saved
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(blob[:keep] if keep >= 0 else blob[:-1])
    with pytest.raises(ValueError, match="truncated"):
        load_model(truncated)


def test_extra_bytes_are_refused(saved, tmp_path):
    path, blob = saved
    longer = tmp_path / "longer.safetensors"
    longer.write_bytes(blob + b"\0")
    with pytest.raises(ValueError, match="corrupted: 1 bytes follow"):
        load_model(longer)


def test_a_newer_format_version_is_refused(saved, tmp_path):
    path, _ = saved
    newer = signed_copy(path, tmp_path / "newer.safetensors", format_version=FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}, newer"):
        load_model(newer)


@pytest.mark.parametrize(
    "class_name", ["GaussianProcessRegressor", "DOSRegressorBase", "os.system"]
)
def test_an_unknown_class_is_refused(saved, tmp_path, class_name):
    path, _ = saved

    def rename(document):
        document["class"] = class_name

    other = signed_copy(path, tmp_path / "other.safetensors", change=rename)
    with pytest.raises(ValueError, match=f"class '{class_name}', which is not one that load_model"):
        load_model(other)


def _spoil_attribute_name(document):
    document["attributes"]["__dict__"] = {"__dict__": {}}


def _spoil_member(document):
    del document["members"][0]["seed"]


def _spoil_weights(document):
    document["members"][0]["aliases"] = {"extra.weight": "readout.missing"}


def _drop_members(document):
    document["members"] = []


@pytest.mark.parametrize(
    "spoil, message",
    [
        (_spoil_attribute_name, "'__dict__' is not a fitted attribute name"),
        (_spoil_member, "malformed entry of network 0"),
        (_spoil_weights, "malformed entry of network 0"),
        (_drop_members, "holds no network"),
        (lambda document: document["params"].update(hidden=32), "network 0 do not fit"),
        (lambda document: document["params"].update(colour="red"), "parameters \\['colour'\\]"),
    ],
)
def test_malformed_contents_are_refused_even_when_signed(saved, tmp_path, spoil, message):
    path, _ = saved
    spoiled = signed_copy(path, tmp_path / "spoiled.safetensors", change=spoil)
    with pytest.raises(ValueError, match=message):
        load_model(spoiled)


def test_rewriting_a_file_reproduces_its_contents_and_checksum(saved, tmp_path):
    # The helper the refusal tests use signs exactly as save does. (safetensors orders the
    # header's metadata entries as it likes, so the bytes may differ; the checksum cannot.)
    path, _ = saved
    copy = signed_copy(path, tmp_path / "copy.safetensors")
    with safe_open(str(path), framework="pt") as original, safe_open(str(copy), "pt") as again:
        assert again.metadata() == original.metadata()
        assert again.keys() == original.keys()
    assert copy.stat().st_size == path.stat().st_size


def test_other_files_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(3)}, str(plain))
    with pytest.raises(ValueError, match="not a dos_estimators model file"):
        load_model(plain)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ValueError, match="header is corrupted"):
        load_model(noise)


# -- refused estimators --------------------------------------------------------------------
def test_callbacks_are_refused(data, tmp_path):
    structures, y = data
    model = build("mlp", callbacks=[Callback()]).fit(structures, y)
    with pytest.raises(ValueError, match="callbacks=.*set_params\\(callbacks=None\\).*pickle"):
        model.save(tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    model.set_params(callbacks=[]).save(tmp_path / "model.safetensors")
    assert load_model(tmp_path / "model.safetensors").callbacks == []


def test_parameters_that_are_not_json_are_refused(data, tmp_path):
    structures, y = data
    model = build("mlp", random_state=np.random.RandomState(0)).fit(structures, y)
    with pytest.raises(ValueError, match="parameter random_state holds RandomState.*pickle"):
        model.save(tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_subclasses_are_refused(data, tmp_path):
    class Custom(MLPDOSRegressor):
        pass

    structures, y = data
    model = Custom(**ESTIMATORS["mlp"][1], **TRAINING).fit(structures, y)
    with pytest.raises(ValueError, match="Custom is not one of them.*Pickle"):
        model.save(tmp_path / "model.safetensors")


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_unfitted_estimators_cannot_be_saved(name, tmp_path):
    with pytest.raises(NotFittedError):
        build(name).save(tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


# -- ensemble standard deviation -----------------------------------------------------------
def test_return_std_is_the_spread_of_the_members(name, fitted, data):
    structures, _ = data
    X = inputs_for(name, structures)
    mean, std = fitted.predict(X, return_std=True)
    assert mean.shape == std.shape == (len(structures), fitted.n_energies_)
    assert np.array_equal(mean, fitted.predict(X))

    dataset = DOSDataset(fitted._inputs(X))
    members = [np.clip(net.predict(dataset) * fitted.y_scale_, 0.0, None) for net in fitted.nets_]
    np.testing.assert_allclose(std, np.std(members, axis=0), rtol=1e-6, atol=1e-12)
    assert (std >= 0).all() and std.max() > 0


def test_return_std_needs_an_ensemble(data):
    structures, y = data
    model = build("mlp", n_ensemble=1).fit(structures, y)
    with pytest.raises(ValueError, match="return_std=True needs n_ensemble >= 2"):
        model.predict(structures, return_std=True)
    with pytest.raises(ValueError, match="return_std must be True or False"):
        model.predict(structures, return_std="yes")
    transformer = build("dostransformer", n_ensemble=1).fit(structures, y)
    with pytest.raises(ValueError, match="return_std=True needs n_ensemble >= 2"):
        transformer.predict(structures, return_std=True)


def test_the_documentation_examples_run(tmp_path, monkeypatch):
    page = Path(__file__).resolve().parents[1] / "docs" / "model_files.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    assert namespace["mean"].shape == namespace["std"].shape == (4, 51)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nacl.safetensors"]


@pytest.mark.parametrize(
    "value",
    [
        np.float64(1e-3),
        np.float32(0.1),
        np.int64(3),
        np.bool_(True),
        float("-inf"),
        (1, "a", None),
        {"a": [1, 2.5]},
        np.array(["x", "yy"], dtype=object),
        np.zeros((2, 0)),
        np.arange(6, dtype=np.int32).reshape(2, 3),
        np.array([np.nan, 1.0]),
    ],
    ids=repr,
)
def test_json_values_come_back_with_their_type(value):
    from dos_estimators.estimators.persistence import decode, encode

    back = decode(json.loads(json.dumps(encode(value, "value"), allow_nan=False)))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    else:
        assert back == value


def test_notes_are_kept_and_signed(data, tmp_path):
    from dos_estimators.model_files import read_notes

    structures, y = data
    model = build("dostransformer").fit(structures, y)
    notes = {"command": "python make.py --seed 0", "held_out": {"mse_x10": 0.2}, "ids": ["a"]}
    model.save(tmp_path / "noted.safetensors", notes=notes)
    assert read_notes(tmp_path / "noted.safetensors") == notes
    model.save(tmp_path / "plain.safetensors")
    assert read_notes(tmp_path / "plain.safetensors") == {}
    with pytest.raises(ValueError, match="notes must be a dict"):
        model.save(tmp_path / "bad.safetensors", notes=["not", "a", "dict"])
    with pytest.raises(ValueError, match="notes"):
        model.save(tmp_path / "bad.safetensors", notes={"model": model})
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_saved_file_has_the_mode_of_a_plain_write(data, tmp_path):
    import os

    structures, y = data
    model = build("dostransformer").fit(structures, y)
    model.save(tmp_path / "mode.safetensors")
    (tmp_path / "plain").write_bytes(b"")
    assert os.stat(tmp_path / "mode.safetensors").st_mode == os.stat(tmp_path / "plain").st_mode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name", ["dostransformer_v1", "graph_network_v1", "vector_v1"])
def test_files_written_by_the_2026_12_03_main_load_and_predict_as_then(name):
    # Written by tests/data/make_model_files.py with main at cf72d18 (format version 1),
    # before the estimators took over their own model files. To float32 precision, not
    # bit for bit: another numpy or pymatgen release computes the positions (and so the
    # edge lengths) a few ulps apart.
    import sys

    sys.path.insert(0, str(FIXTURES))
    from make_model_files import inputs

    structures, _ = tiny_dataset()
    model = load_model(FIXTURES / f"{name}.safetensors")
    expected = np.load(FIXTURES / f"{name}.npy")
    np.testing.assert_allclose(model.predict(inputs(name, structures)), expected, rtol=0, atol=1e-6)


def test_each_regressor_class_loads_only_its_own_files(data, tmp_path):
    structures, y = data
    model = build("mlp").fit(structures, y)
    model.save(tmp_path / "mlp.safetensors")
    assert isinstance(MLPDOSRegressor.load(tmp_path / "mlp.safetensors"), MLPDOSRegressor)
    with pytest.raises(ValueError, match="holds a MLPDOSRegressor, not a DOSTransformerRegressor"):
        DOSTransformerRegressor.load(tmp_path / "mlp.safetensors")
