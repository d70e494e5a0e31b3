"""Node features as plug-ins: the protocol, the cache, learned and pretrained embeddings."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from conftest import isolated_atom_cell, rock_salt, tiny_dataset, tiny_transformer
from pymatgen.core import Structure
from sklearn.base import clone

from dos_estimators import GraphNetworkDOSRegressor
from dos_estimators.features import (
    CACHE,
    ContrastiveAtomEmbedding,
    ElementEmbedding,
    FeatureCache,
    NodeFeatureUnion,
    VAEAtomEmbedding,
    element_table,
    site_descriptors,
)
from dos_estimators.structures import structure_key


class CoordinationEmbedding:
    """A user's node features: each site's neighbour count within 3.5 Å; records its calls."""

    def __init__(self):
        self.fitted_on = None
        self.transformed = []

    def fit(self, structures, y=None):
        self.fitted_on = [s.composition.reduced_formula for s in structures]
        self.saw_y = y is not None
        return self

    def transform(self, structures):
        self.transformed.append(len(structures))
        return [
            np.array([[len(s.get_neighbors(site, 3.5))] for site in s], dtype=float)
            for s in structures
        ]


def test_table_through_the_embedding_path_predicts_as_the_table():
    X, y = tiny_dataset()
    direct = tiny_transformer(node_features="magpie").fit(X, y).predict(X)
    listed = tiny_transformer(node_features=["magpie"]).fit(X, y).predict(X)
    np.testing.assert_array_equal(direct, listed)


def test_element_embedding_rows_are_the_table_rows():
    nacl = rock_salt()
    rows = ElementEmbedding("cgcnn").fit([nacl]).transform([nacl])[0]
    np.testing.assert_array_equal(rows, element_table("cgcnn").values[[11, 17]])


def test_union_concatenates_per_site():
    X, _ = tiny_dataset()
    union = NodeFeatureUnion(["magpie", "onehot"]).fit(X)
    features = union.transform(X)
    assert union.n_features_out_ == 22 + 118
    assert [f.shape for f in features] == [(len(s), 140) for s in X]


def test_user_object_is_cloned_and_fitted_on_the_training_structures_only():
    X, y = tiny_dataset()
    embedding = CoordinationEmbedding()
    model = GraphNetworkDOSRegressor(
        node_features=["magpie", embedding], hidden=8, max_epochs=1, random_state=0
    ).fit(X[:6], y[:6])
    assert embedding.fitted_on is None, "the object passed in must stay unfitted"
    fitted = model.node_features_.parts_[1]
    assert fitted.fitted_on == [s.composition.reduced_formula for s in X[:6]]
    assert fitted.saw_y
    assert model.n_node_features_ == 23
    model.predict(X[6:])
    assert fitted.fitted_on == [s.composition.reduced_formula for s in X[:6]]
    assert fitted.transformed[-1] == 2


@pytest.mark.parametrize(
    "value, words",
    [
        ("magpi", "node_features='magpi' is not one of"),
        ([], "must not be an empty list"),
        (object(), "object with fit and transform"),
        (["magpie", ["onehot"]], "object with fit and transform"),
    ],
)
def test_invalid_node_features_are_named_before_any_graph(monkeypatch, value, words):
    import dos_estimators.estimators.graph_inputs as base

    def no_graphs(*args, **kwargs):
        raise AssertionError("graphs were built before the parameters were checked")

    monkeypatch.setattr(base, "structures_to_graphs", no_graphs)
    X, y = tiny_dataset()
    with pytest.raises(ValueError, match="node_features") as error:
        tiny_transformer(node_features=value).fit(X, y)
    assert words in str(error.value)


class WrongRows(CoordinationEmbedding):
    def transform(self, structures):
        return [np.zeros((len(s) + 1, 2)) for s in structures]


def test_an_embedding_with_wrong_rows_is_refused_with_the_sample():
    X, y = tiny_dataset()
    with pytest.raises(ValueError, match="WrongRows for sample 0 have shape"):
        tiny_transformer(node_features=WrongRows()).fit(X, y)


def test_structure_key_is_by_content():
    a, b = rock_salt(5.64), rock_salt(5.64)
    assert a is not b and structure_key(a) == structure_key(b)
    assert structure_key(rock_salt(5.65)) != structure_key(a)
    assert structure_key(rock_salt(5.64, ("K", "Cl"))) != structure_key(a)


def test_structure_key_ignores_the_last_bits_of_positions():
    # Another numpy or pymatgen computes fractional coordinates from Cartesian ones a
    # few ulps apart (and can give -0.0 for 0.0): the crystal keeps its key.
    a = rock_salt(5.64)
    lattice, coords = a.lattice.matrix, a.frac_coords
    shifted = np.where(coords == 0, -0.0, coords * (1 + 4e-16))
    b = Structure(lattice * (1 + 1e-15), a.species, shifted)
    assert structure_key(b) == structure_key(a)
    c = Structure(lattice, a.species, coords + 1e-6)
    assert structure_key(c) != structure_key(a)


def test_cache_computes_each_distinct_structure_once():
    cache = FeatureCache()
    calls = []

    def compute(missing):
        calls.append(len(missing))
        return [np.full((len(s), 1), s.volume) for s in missing]

    X = [rock_salt(5.0), rock_salt(5.0), rock_salt(6.0)]
    first = cache.get_many(("test",), X, compute)
    second = cache.get_many(("test",), [rock_salt(6.0), rock_salt(5.0)], compute)
    assert calls == [2]
    np.testing.assert_array_equal(second[0], first[2])
    assert (cache.hits, cache.misses) == (3, 2)
    cache.get_many(("other settings",), X[:1], compute)
    assert calls == [2, 1]


def test_cache_drops_the_least_recently_used_beyond_its_size():
    cache = FeatureCache(max_bytes=3 * 2 * 4)  # three (2, 1) float32 arrays
    X = [rock_salt(a) for a in (5.0, 5.1, 5.2, 5.3)]
    cache.get_many(("t",), X, lambda m: [np.zeros((2, 1)) for _ in m])
    calls = []
    cache.get_many(("t",), X[:1], lambda m: calls.append(len(m)) or [np.zeros((2, 1))] * len(m))
    assert calls == [1]


def test_site_descriptors_count_neighbours():
    CACHE.clear()
    nacl = rock_salt(5.64)
    rows = site_descriptors([nacl], cutoff=3.0, n_bins=3)[0]
    table = element_table("magpie").values
    assert rows.shape == (2, 22 + 3 + 22)
    # Six nearest neighbours at 2.82 Å, all in the last of three 1 Å bins.
    np.testing.assert_array_equal(rows[:, 22:25], [[0, 0, 6], [0, 0, 6]])
    np.testing.assert_allclose(rows[0, 25:], table[17], rtol=1e-6)
    np.testing.assert_allclose(rows[1, 25:], table[11], rtol=1e-6)
    site_descriptors([rock_salt(5.64)], cutoff=3.0, n_bins=3)
    assert CACHE.hits == 1


@pytest.mark.parametrize("cls", [VAEAtomEmbedding, ContrastiveAtomEmbedding])
def test_learned_embeddings_are_seeded_estimators(cls):
    X, y = tiny_dataset()
    small = dict(latent_dim=3, hidden=8, max_epochs=3, random_state=0)
    a = cls(**small).fit(X, y)
    b = cls(**small).fit(X, y)
    for left, right in zip(a.transform(X), b.transform(X), strict=True):
        np.testing.assert_array_equal(left, right)
    assert [f.shape for f in a.transform(X)] == [(len(s), 3) for s in X]
    assert clone(a).get_params() == a.get_params()
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.transform(X)[0], a.transform(X)[0])
    assert cls(random_state=0).get_params()["random_state"] == 0


@pytest.mark.parametrize("cls", [VAEAtomEmbedding, ContrastiveAtomEmbedding])
def test_learned_embeddings_learn(cls):
    X, y = tiny_dataset()
    embedding = cls(latent_dim=4, hidden=16, max_epochs=150, lr=1e-2, random_state=0).fit(X, y)
    assert embedding.history_[-1] < 0.7 * embedding.history_[0]


def test_contrastive_embedding_needs_the_dos():
    X, _ = tiny_dataset()
    with pytest.raises(ValueError, match="needs y"):
        ContrastiveAtomEmbedding().fit(X)


def test_named_learned_embeddings_take_the_estimators_seed():
    X, y = tiny_dataset()
    model = tiny_transformer(node_features="vae", random_state=3).fit(X, y)
    assert model.node_features_.parts_[0].random_state == 3
    assert model.n_node_features_ == VAEAtomEmbedding().latent_dim
    again = tiny_transformer(node_features="vae", random_state=3).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))


POTENTIALS = {
    # option: (package, class name, features per atom)
    "chgnet": ("chgnet", "CHGNetAtomEmbedding", 64),
    "sevennet": ("sevenn", "SevenNetAtomEmbedding", 128),
}


@pytest.mark.parametrize("option", POTENTIALS)
def test_potential_features_are_standardised_on_the_training_atoms(option):
    package, name, width = POTENTIALS[option]
    pytest.importorskip(package)
    from dos_estimators import features

    X, y = tiny_dataset()
    embedding = getattr(features, name)().fit(X[:6])
    train = np.concatenate(embedding.transform(X[:6]))
    assert train.shape == (sum(len(s) for s in X[:6]), width)
    assert np.isfinite(train).all()
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    hits = CACHE.hits
    embedding.transform(X[:6])
    assert CACHE.hits == hits + 6
    model = tiny_transformer(node_features=["magpie", option]).fit(X, y)
    assert model.n_node_features_ == 22 + width


def test_sevennet_batches_give_the_features_of_single_structures():
    pytest.importorskip("sevenn")
    from dos_estimators.features import SevenNetAtomEmbedding

    X, _ = tiny_dataset()
    CACHE.clear()
    batched = SevenNetAtomEmbedding(standardize=False, batch_size=4).fit(X[:4]).transform(X[:4])
    CACHE.clear()
    single = SevenNetAtomEmbedding(standardize=False, batch_size=1).fit(X[:4]).transform(X[:4])
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_chgnet_features_are_its_own_forward_pass_read_midway():
    # The features stop at the layers they depend on; CHGNet's own forward pass runs on
    # to its energy. Both must give the same numbers, and training through ours must
    # reach exactly the parameters those features depend on.
    pytest.importorskip("chgnet")
    import copy

    import torch

    from dos_estimators.features import CHGNetAtomEmbedding
    from dos_estimators.features.atoms.pretrained import _chgnet

    X, _ = tiny_dataset()
    structures = [*X[:4], isolated_atom_cell()]
    graphs = CHGNetAtomEmbedding().encoder_inputs(structures)
    network = copy.deepcopy(_chgnet("0.3.0")).requires_grad_(True)
    # The isolated-atom cell alone is a batch with one bond and no angle.
    for batch in (graphs, graphs[-1:]):
        ours = CHGNetAtomEmbedding._encode(network, batch)
        theirs = torch.cat(network(batch, task="e", return_atom_feas=True)["atom_fea"])
        assert ours.shape == (sum(g.atomic_number.numel() for g in batch), 64)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    def trained(features):
        network.zero_grad()
        features.square().sum().backward()
        return {n for n, p in network.named_parameters() if p.grad is not None and p.grad.any()}

    reached = trained(CHGNetAtomEmbedding._encode(network, graphs))
    assert reached == trained(
        torch.cat(network(graphs, task="e", return_atom_feas=True)["atom_fea"])
    )
    assert any(n.startswith("atom_conv_layers.2.") for n in reached)
    assert not any(n.startswith(("atom_conv_layers.3.", "mlp.")) for n in reached)


@pytest.mark.parametrize("option", POTENTIALS)
def test_potential_missing_names_the_extra(option, monkeypatch):
    from dos_estimators import features
    from dos_estimators.features.atoms import pretrained

    package, name, _ = POTENTIALS[option]
    loader = getattr(pretrained, f"_{option}")
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, package, None)
    loader.cache_clear()
    CACHE.clear()
    try:
        with pytest.raises(ImportError, match=rf"dos_estimators\[{option}\]"):
            getattr(features, name)().fit([rock_salt()])
    finally:
        loader.cache_clear()


@pytest.mark.parametrize("option", POTENTIALS)
def test_a_fine_tuned_potential_starts_from_the_frozen_features(option):
    package, name, width = POTENTIALS[option]
    pytest.importorskip(package)
    import torch

    from dos_estimators import features

    X, _ = tiny_dataset()
    embedding = getattr(features, name)(fine_tune=0.5).fit(X[:6])
    encoder = embedding.encoder()
    assert encoder.n_features == width and encoder.lr_ratio == 0.5
    assert all(p.requires_grad for p in encoder.network.parameters())
    with torch.no_grad():
        encoded = encoder(embedding.encoder_inputs(X)).numpy()
    np.testing.assert_allclose(encoded, np.concatenate(embedding.transform(X)), atol=1e-5)
    assert getattr(features, name)().fit(X[:6]).encoder() is None, "fine_tune=0: frozen"


def test_fine_tuning_trains_a_copy_of_chgnet_at_its_fraction_of_the_rate(tmp_path):
    pytest.importorskip("chgnet")
    import torch

    from dos_estimators import load_model
    from dos_estimators.features import CHGNetAtomEmbedding
    from dos_estimators.features.atoms.pretrained import _chgnet

    X, y = tiny_dataset()
    pretrained = {k: v.clone() for k, v in _chgnet("0.3.0").state_dict().items()}
    embedding = CHGNetAtomEmbedding(fine_tune=0.5)
    model = tiny_transformer(node_features=["magpie", embedding]).fit(X, y)
    assert model.n_node_features_ == 22 + 64
    assert model.node_features_.n_features_out_ == 22, "CHGNet's columns come from the network"
    encoder = model.net_.module_.atom_encoder
    groups = model.net_.optimizer_.param_groups
    assert [g["max_lr"] for g in groups] == [model.lr * 0.5, model.lr]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in encoder.parameters()}
    tuned = encoder.network.state_dict()
    assert any(not torch.equal(tuned[k], pretrained[k]) for k in pretrained), "CHGNet trained"
    for key, value in _chgnet("0.3.0").state_dict().items():
        assert torch.equal(value, pretrained[key]), f"the shared pretrained CHGNet changed: {key}"
    # Frozen and fine-tuned differ once trained; both predict from the same structures.
    frozen = tiny_transformer(node_features=["magpie", "chgnet"]).fit(X, y)
    assert not np.allclose(frozen.predict(X), model.predict(X))
    expected = model.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), expected)
    model.save(tmp_path / "tuned.safetensors")
    np.testing.assert_array_equal(load_model(tmp_path / "tuned.safetensors").predict(X), expected)
    before = {k: v.clone() for k, v in model.net_.module_.atom_encoder.state_dict().items()}
    model.fine_tune(X[:4], y[:4], max_epochs=1)  # only the prompts: CHGNet stays as it was
    after = model.net_.module_.atom_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model.fine_tune(X[:4], y[:4], max_epochs=1, only_prompt=False)
    assert model.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(model.lr / 10 * 0.5)


def test_a_baseline_with_only_fine_tuned_features_reads_them_from_its_network():
    pytest.importorskip("chgnet")
    from dos_estimators.features import CHGNetAtomEmbedding

    X, y = tiny_dataset()
    model = GraphNetworkDOSRegressor(
        node_features=CHGNetAtomEmbedding(fine_tune=0.1), hidden=8, max_epochs=2, random_state=0
    ).fit(X, y)
    assert model.n_node_features_ == 64
    assert model._inputs(X[:1])[0].x.shape == (len(X[0]), 0)
    assert np.isfinite(model.predict(X)).all()


def test_checkpoints_tell_fine_tuning_settings_apart():
    from dos_estimators.estimators.checkpoint import fingerprint
    from dos_estimators.features import CHGNetAtomEmbedding

    def of(embedding):
        return fingerprint(tiny_transformer(node_features=["magpie", embedding]), {})

    assert of(CHGNetAtomEmbedding(fine_tune=0.5)) != of(CHGNetAtomEmbedding(fine_tune=0.01))
    assert of(CHGNetAtomEmbedding(fine_tune=0.5)) == of(CHGNetAtomEmbedding(fine_tune=0.5))
    assert of(CHGNetAtomEmbedding(verbose=True)) == of(CHGNetAtomEmbedding())


def test_potential_embeddings_from_before_fine_tuning_still_clone():
    from dos_estimators.features import CHGNetAtomEmbedding

    old = CHGNetAtomEmbedding()
    del old.__dict__["fine_tune"]  # as unpickled from a version without the parameter
    assert clone(old).get_params()["fine_tune"] == 0.0
    assert "CHGNetAtomEmbedding" in repr(old)


def test_fine_tuned_inputs_digest_the_same_every_time():
    pytest.importorskip("chgnet")
    from dos_estimators.estimators.checkpoint import inputs_digest
    from dos_estimators.features import CHGNetAtomEmbedding

    X, y = tiny_dataset()
    model = tiny_transformer(node_features=[CHGNetAtomEmbedding(fine_tune=0.1)]).fit(X, y)
    assert inputs_digest(model._inputs(X)) == inputs_digest(model._inputs(X))


def test_fine_tuning_two_potentials_at_once_is_refused():
    pytest.importorskip("chgnet")
    from dos_estimators.features import CHGNetAtomEmbedding

    X, y = tiny_dataset()
    both = [CHGNetAtomEmbedding(fine_tune=0.1), CHGNetAtomEmbedding(model="0.3.0", fine_tune=1.0)]
    with pytest.raises(ValueError, match="one potential at a time"):
        tiny_transformer(node_features=both).fit(X, y)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "0.1", None])
def test_fine_tune_must_be_a_non_negative_number(value):
    from dos_estimators.features import CHGNetAtomEmbedding

    with pytest.raises(ValueError, match="fine_tune must be a non-negative number"):
        CHGNetAtomEmbedding(fine_tune=value).fit([rock_salt()])


class Volume:
    """Crystal features: the volume per atom, NaN for the third crystal."""

    def fit(self, structures, y=None):
        return self

    def transform(self, structures):
        values = np.array([[s.volume / len(s)] for s in structures])
        values[2:3] = np.nan
        return values


def test_crystal_features_widen_the_crystal_vector():
    X, y = tiny_dataset()
    model = tiny_transformer(crystal_features=Volume()).fit(X, y)
    assert model.n_crystal_attr_ == 3
    assert np.isfinite(model.predict(X)).all()
    features = model.crystal_features_.transform(X)
    assert features[2, 0] == 0.0, "a missing value becomes the training mean"
    without = tiny_transformer(crystal_features=Volume(), crystal_descriptors=False).fit(X, y)
    assert without.n_crystal_attr_ == 1
    graph = GraphNetworkDOSRegressor(
        crystal_features=Volume(), hidden=8, max_epochs=1, random_state=0
    ).fit(X, y)
    assert graph.n_crystal_attr_ == 3


@pytest.mark.parametrize("value", ["magpie", object()])
def test_invalid_crystal_features_are_named(value):
    X, y = tiny_dataset()
    with pytest.raises(ValueError, match="crystal_features must be None"):
        tiny_transformer(crystal_features=value).fit(X, y)


@pytest.mark.parametrize("node_features", [["magpie", "vae"], "contrastive", ["onehot"]])
def test_package_embeddings_round_trip_through_model_files(tmp_path, node_features):
    from dos_estimators import load_model

    X, y = tiny_dataset()
    model = tiny_transformer(node_features=node_features).fit(X, y)
    model.save(tmp_path / "model.safetensors")
    loaded = load_model(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_user_embedding_refuses_model_files(tmp_path):
    X, y = tiny_dataset()
    model = tiny_transformer(node_features=CoordinationEmbedding()).fit(X, y)
    with pytest.raises(ValueError, match="node_features.*pickle"):
        model.save(tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def test_predict_uses_what_fit_learned_not_parameters_changed_since():
    X, y = tiny_dataset()
    model = tiny_transformer(node_features="onehot").fit(X, y)
    expected = model.predict(X)
    model.set_params(node_features="mass_onehot", crystal_descriptors=False)
    np.testing.assert_array_equal(model.predict(X), expected)
    model.set_params(node_features="vae")
    np.testing.assert_array_equal(model.predict(X), expected)


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("dos_estimators.embeddings", "dos_estimators.features.atoms", "NodeFeatureUnion"),
        ("dos_estimators.featurizers", "dos_estimators.features.crystal", "MatminerFeaturizer"),
    ],
)
def test_old_homes_of_the_features_warn_and_give_the_same_objects(old, new, name):
    import importlib

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert set(module.__all__) == set(importlib.import_module(new).__all__)


def test_an_estimator_pickled_before_the_features_moved_unpickles_and_predicts_the_same():
    # Pickled by tests/data/make_model_files.py with main at cf72d18, node_features=
    # ("magpie", "chgnet"): its NodeFeatureUnion, CHGNetAtomEmbedding and Standardizer
    # lived in dos_estimators.embeddings then.
    import pickle
    import warnings
    from pathlib import Path

    pytest.importorskip("chgnet")
    data = Path(__file__).resolve().parent / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with open(data / "dostransformer_chgnet_v1.pkl", "rb") as file:
            model = pickle.load(file)  # the test suite's own file
    X, _ = tiny_dataset()
    # To float32 precision, not bit for bit: another numpy or pymatgen release computes
    # the positions (and so the edge lengths) a few ulps apart.
    expected = np.load(data / "dostransformer_chgnet_v1.npy")
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=1e-6)
