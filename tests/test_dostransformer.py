"""Tests of ``DOSTransformerRegressor``: the scikit-learn contract, invariances and errors.

Every model here is tiny (16 wide, one layer of each kind, a few epochs) and
trains on :func:`conftest.tiny_dataset`, so the whole file runs in well under
a minute on two CPU cores.
"""

import pickle

import numpy as np
import pytest
import torch
from conftest import (
    CONFIGURATION_PARAMS,
    TINY_TRANSFORMER,
    bad_targets,
    diamond,
    isolated_atom_cell,
    rock_salt,
    rotated,
    tiny_dataset,
    tiny_transformer,
    wurtzite,
)
from pymatgen.core import Element, Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.spatial.transform import Rotation
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from dos_estimators import DOSTransformerRegressor
from dos_estimators.estimators.base import DOSDataset
from dos_estimators.features import element_table
from dos_estimators.metrics import dos_neg_mse_scorer, mse
from dos_estimators.metrics import r2_pooled as r2
from dos_estimators.nn import DOSTransformerLoss
from dos_estimators.structures import CRYSTAL_SYSTEMS, crystal_systems

TINY = TINY_TRANSFORMER

EXPECTED_PARAMS = {
    "hidden",
    "n_heads",
    "n_gnn_layers",
    "n_cross_layers",
    "n_self_layers",
    "n_cross_layers_out",
    "dropout",
    "beta",
    "cutoff",
    "node_features",
    "pooling",
    "lr",
    "weight_decay",
    "batch_size",
    "max_epochs",
    "patience",
    "validation_fraction",
    "device",
    "random_state",
    "verbose",
    *CONFIGURATION_PARAMS,
}


tiny = tiny_transformer


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return tiny().fit(X, y)


def passthrough(X):
    return X


# -- 1. shapes, output type, any grid length, score --------------------------------------


def test_fit_predict_shape_and_values(fitted, data):
    X, y = data
    prediction = fitted.predict(X)
    assert isinstance(prediction, np.ndarray)
    assert prediction.shape == y.shape == (8, 12)
    assert prediction.dtype.kind == "f"
    assert np.isfinite(prediction).all()
    assert (prediction >= 0).all()
    assert fitted.n_energies_ == 12
    assert 1 <= fitted.n_epochs_ <= TINY["max_epochs"]
    assert fitted.n_node_features_ == element_table("magpie").n_features


def test_fit_returns_self(data):
    X, y = data
    model = tiny(max_epochs=1)
    assert model.fit(X, y) is model


def test_any_grid_length():
    X, y = tiny_dataset(n_energies=201)
    model = tiny().fit(X, y)
    prediction = model.predict(X)
    assert model.n_energies_ == 201
    assert prediction.shape == (8, 201)
    assert (prediction >= 0).all()
    assert model.predict(X[:3]).shape == (3, 201)


def test_score_is_flattened_r2(fitted, data):
    X, y = data
    score = fitted.score(X, y)
    assert isinstance(score, float)
    assert score == pytest.approx(r2(y, fitted.predict(X)), rel=1e-12, abs=1e-12)


def test_units_of_y_do_not_matter(fitted, data):
    # One global scale normalises the targets, so multiplying y scales the predictions.
    X, y = data
    scaled = tiny().fit(X, 1000.0 * y)
    np.testing.assert_allclose(scaled.predict(X), 1000.0 * fitted.predict(X), rtol=1e-3, atol=1e-3)


# -- 2. ASE input ------------------------------------------------------------------------


def test_ase_atoms_input_matches_structures(fitted, data):
    X, _ = data
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in X]
    np.testing.assert_allclose(fitted.predict(atoms), fitted.predict(X), atol=1e-5, rtol=0)
    # Mixed sequences are fine too.
    mixed = [atoms[i] if i % 2 else X[i] for i in range(len(X))]
    np.testing.assert_allclose(fitted.predict(mixed), fitted.predict(X), atol=1e-5, rtol=0)


def test_fit_on_ase_atoms_matches_fit_on_structures(fitted, data):
    X, y = data
    model = tiny().fit([AseAtomsAdaptor.get_atoms(s) for s in X], y)
    np.testing.assert_allclose(model.predict(X), fitted.predict(X), atol=1e-5, rtol=0)


# -- 3. batch invariance -----------------------------------------------------------------


def _assert_batch_invariant(model, X):
    together = model.predict(X)
    one_by_one = np.vstack([model.predict([s]) for s in X])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, rtol=0)
    reverse = model.predict(X[::-1])[::-1]
    np.testing.assert_allclose(together, reverse, atol=1e-5, rtol=0)


def test_batch_invariance(fitted, data):
    _assert_batch_invariant(fitted, data[0])


def test_batch_invariance_after_training_with_batch_size_3(data):
    X, y = data
    model = tiny(batch_size=3).fit(X, y)
    _assert_batch_invariant(model, X)


# -- 4. rotation and site order ----------------------------------------------------------


def test_rotation_invariance(fitted, data):
    X, _ = data
    matrix = Rotation.from_euler("zyx", [37.0, -52.0, 114.0], degrees=True).as_matrix()
    turned = [rotated(s, matrix) for s in X]
    # The rotation really moved the atoms.
    assert not np.allclose(turned[0].cart_coords, X[0].cart_coords)
    assert not np.allclose(turned[0].lattice.matrix, X[0].lattice.matrix)
    np.testing.assert_allclose(fitted.predict(turned), fitted.predict(X), atol=1e-5, rtol=0)


def test_site_order_invariance(fitted, data):
    X, _ = data
    rng = np.random.default_rng(1)
    shuffled = []
    for s in X:
        order = rng.permutation(len(s))
        if np.array_equal(order, np.arange(len(s))):
            order = np.roll(order, 1)
        shuffled.append(Structure.from_sites([s[i] for i in order]))
    assert [str(site.specie) for site in shuffled[0]] != [str(site.specie) for site in X[0]]
    np.testing.assert_allclose(fitted.predict(shuffled), fitted.predict(X), atol=1e-5, rtol=0)


# -- 5. pooling and supercells -----------------------------------------------------------


def test_mean_pooling_supercell_equals_primitive(fitted, data):
    X, _ = data
    assert fitted.pooling == "mean"
    supercells = [s * (2, 1, 2) for s in X]
    assert all(len(big) == 4 * len(s) for big, s in zip(supercells, X, strict=True))
    np.testing.assert_allclose(fitted.predict(supercells), fitted.predict(X), atol=1e-4, rtol=0)


def test_sum_pooling_is_extensive(data):
    X, y = data
    model = tiny(pooling="sum").fit(X, y)
    supercells = [s * (2, 1, 2) for s in X]
    difference = np.abs(model.predict(supercells) - model.predict(X)).max(axis=1)
    assert difference.max() > 1e-4


# -- 6. determinism ----------------------------------------------------------------------


def test_same_random_state_gives_identical_predictions(fitted, data):
    X, y = data
    again = tiny().fit(X, y)
    assert np.array_equal(again.predict(X), fitted.predict(X))


def test_different_random_state_gives_different_predictions(fitted, data):
    X, y = data
    other = tiny(random_state=1).fit(X, y)
    assert not np.allclose(other.predict(X), fitted.predict(X), atol=1e-6)


def test_global_torch_seed_does_not_matter(fitted, data):
    X, y = data
    torch.manual_seed(12345)
    again = tiny().fit(X, y)
    assert np.array_equal(again.predict(X), fitted.predict(X))


def test_random_state_instance_is_accepted(data):
    X, y = data
    first = tiny(random_state=np.random.RandomState(3)).fit(X, y)
    second = tiny(random_state=np.random.RandomState(3)).fit(X, y)
    assert np.array_equal(first.predict(X), second.predict(X))


# -- 7. pickling -------------------------------------------------------------------------


def test_pickle_round_trip(fitted, data):
    X, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict(X), fitted.predict(X))
    assert restored.crystal_systems_ == fitted.crystal_systems_
    assert restored.n_energies_ == fitted.n_energies_


# -- 8. scikit-learn parameter contract --------------------------------------------------


def test_get_params_lists_the_hyperparameters():
    params = tiny().get_params()
    assert EXPECTED_PARAMS <= set(params)
    assert params["hidden"] == 16 and params["random_state"] == 0
    defaults = DOSTransformerRegressor().get_params()
    assert defaults["pooling"] == "mean"
    assert defaults["validation_fraction"] == 0.1


def test_clone_is_unfitted_with_equal_params(fitted):
    copy = clone(fitted)
    assert copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_")
    with pytest.raises(NotFittedError):
        copy.predict([rock_salt()])


def test_set_params():
    model = tiny()
    assert model.set_params(hidden=8, pooling="sum", beta=0.25) is model
    params = model.get_params()
    assert (params["hidden"], params["pooling"], params["beta"]) == (8, "sum", 0.25)
    with pytest.raises(ValueError):
        model.set_params(not_a_parameter=1)


def test_criterion_uses_beta(data):
    X, y = data
    model = tiny(beta=0.25, max_epochs=1).fit(X, y)
    assert isinstance(model.net_.criterion_, DOSTransformerLoss)
    assert model.net_.criterion_.beta == 0.25


# -- 9. not fitted -----------------------------------------------------------------------


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        tiny().predict([rock_salt()])
    with pytest.raises(NotFittedError):
        tiny().score([rock_salt()], np.ones((1, 12)))


# -- 10. input errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", r"NaN or infinite.*row 3"),
        ("inf", r"NaN or infinite.*row 3"),
        ("negative", r"negative.*row 3"),
        ("ragged", r"rectangular"),
        ("rows", r"8 structures but y has 7 rows"),
        ("1d", r"shape \(n_samples, n_energies\)"),
    ],
)
def test_fit_rejects_bad_y(data, kind, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        tiny().fit(X, bad_targets(kind, y))


def test_fit_rejects_empty_X():
    with pytest.raises(ValueError, match="empty"):
        tiny().fit([], np.empty((0, 12)))


def test_fit_names_index_of_non_structure(data):
    X, y = data
    X = list(X)
    X[2] = "not a crystal"
    with pytest.raises(ValueError, match=r"Sample 2\b.*str"):
        tiny().fit(X, y)


def test_predict_names_index_of_non_structure(fitted, data):
    X = list(data[0][:4])
    X[2] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"Sample 2\b"):
        fitted.predict(X)


def test_fit_rejects_disordered_structure(data):
    X, y = data
    disordered = Structure(
        Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    with pytest.raises(ValueError, match=r"Sample 1\b.*disordered"):
        tiny().fit([X[0], disordered, *X[2:]], y)


def test_element_outside_node_feature_table(fitted, data):
    X, y = data
    table = element_table("megnet")
    americium = Element("Am").Z
    assert not table.supported[americium] and element_table("magpie").supported[americium]
    bad = rock_salt(5.0, ("Am", "O"))
    with pytest.raises(ValueError, match=r"Sample 3\b.*Am.*megnet"):
        tiny(node_features="megnet").fit([*X[:3], bad, *X[4:]], y)
    # The same crystal is fine with a table that covers americium.
    assert fitted.predict([bad]).shape == (1, 12)


def test_default_node_features_are_magpie_and_chgnet(data):
    X, y = data
    default = DOSTransformerRegressor().node_features
    assert default == ("magpie", "chgnet")
    model = tiny(node_features=default).fit(X, y)
    assert model.n_node_features_ == element_table("magpie").n_features + 64
    assert model.predict(X).shape == y.shape
    # CHGNet stops at plutonium, and says so.
    with pytest.raises(ValueError, match=r"CHGNet model '0.3.0' was not trained on Am"):
        model.predict([rock_salt(5.0, ("Am", "O"))])


def test_score_rejects_other_grid(fitted, data):
    X, y = data
    with pytest.raises(ValueError, match="grid"):
        fitted.score(X, y[:, :6])


def test_unknown_node_features(data):
    X, y = data
    with pytest.raises(ValueError, match="not_a_table"):
        tiny(node_features="not_a_table").fit(X, y)


def test_unknown_pooling(data):
    X, y = data
    with pytest.raises(ValueError, match="pooling"):
        tiny(pooling="max").fit(X, y)


def test_single_structure_instead_of_sequence(fitted):
    with pytest.raises(ValueError, match="wrap it in a list"):
        fitted.predict(rock_salt())


# -- 11. scikit-learn tools --------------------------------------------------------------


def test_pipeline(fitted, data):
    X, y = data
    pipeline = Pipeline([("identity", FunctionTransformer(passthrough)), ("dos", tiny())])
    pipeline.fit(X, y)
    # Same parameters and seed as the standalone model: same predictions.
    assert np.array_equal(pipeline.predict(X), fitted.predict(X))
    assert pipeline.score(X, y) == pytest.approx(fitted.score(X, y))


def test_cross_val_score_matches_manual_folds(data):
    X, y = data
    cv = KFold(2)
    manual = []
    for train, test in cv.split(X):
        model = tiny().fit([X[i] for i in train], y[train])
        manual.append((y[test], model.predict([X[i] for i in test])))
    default = cross_val_score(tiny(), X, y, cv=cv)
    neg_mse = cross_val_score(tiny(), X, y, cv=cv, scoring=dos_neg_mse_scorer)
    assert default.shape == neg_mse.shape == (2,)
    np.testing.assert_allclose(default, [r2(t, p) for t, p in manual], rtol=1e-10)
    np.testing.assert_allclose(neg_mse, [-mse(t, p) for t, p in manual], rtol=1e-10)
    assert (neg_mse < 0).all()


def test_grid_search(data):
    X, y = data
    search = GridSearchCV(tiny(), {"hidden": [8, 16]}, cv=2).fit(X, y)
    assert search.best_params_["hidden"] in (8, 16)
    assert len(search.cv_results_["params"]) == 2
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.hidden == search.best_params_["hidden"]
    assert search.best_estimator_.predict(X).shape == (8, 12)
    assert search.predict(X[:2]).shape == (2, 12)


# -- 12. crystal systems and prompts -----------------------------------------------------


def test_crystal_systems_of_training_set(fitted, data):
    # The prompts train on the training part only: the systems of the rows held out at
    # random for validation count only if some training row has them too.
    X, _ = data
    assert len(fitted.crystal_systems_) == len(set(fitted.crystal_systems_))
    assert set(fitted.crystal_systems_) <= set(crystal_systems(X))
    assert fitted.crystal_systems_ == [s for s in CRYSTAL_SYSTEMS if s in fitted.crystal_systems_]
    module = fitted.net_.module_
    assert module.trained_systems.tolist() == [
        s in fitted.crystal_systems_ for s in CRYSTAL_SYSTEMS
    ]


def test_crystal_systems_without_validation_split_are_those_of_X(data):
    X, y = data
    model = tiny(validation_fraction=None, max_epochs=1).fit(X, y)
    expected = [s for s in CRYSTAL_SYSTEMS if s in set(crystal_systems(X))]
    assert model.crystal_systems_ == expected
    assert model.net_.module_.trained_systems.tolist() == [s in expected for s in CRYSTAL_SYSTEMS]


def test_crystal_systems_ignore_explicit_validation_set(data):
    # A system only in X_valid never trains its prompt: it must get the mean prompt.
    _, y = data
    cubic = [rock_salt(5.64), rock_salt(5.0, ("Mg", "O")), diamond(3.57), diamond(5.43, "Si")]
    X_valid = [wurtzite(), cubic[0]]
    assert crystal_systems(X_valid) == ["hexagonal", "cubic"]
    model = tiny(max_epochs=1).fit(cubic, y[:4], X_valid=X_valid, y_valid=y[4:6])
    assert model.crystal_systems_ == ["cubic"]
    module = model.net_.module_
    hexagonal = CRYSTAL_SYSTEMS.index("hexagonal")
    assert module.trained_systems.tolist() == [s == "cubic" for s in CRYSTAL_SYSTEMS]
    weight = module.system_prompts.weight.detach()
    with torch.no_grad():
        prompt = module.prompts(torch.tensor([hexagonal]))
    torch.testing.assert_close(prompt[0], weight[CRYSTAL_SYSTEMS.index("cubic")])


def test_unseen_system_gets_mean_of_trained_prompts(fitted):
    module = fitted.net_.module_
    trained = torch.tensor([s in fitted.crystal_systems_ for s in CRYSTAL_SYSTEMS])
    assert 1 < int(trained.sum()) < len(CRYSTAL_SYSTEMS)
    weight = module.system_prompts.weight.detach()
    unseen = [i for i, s in enumerate(CRYSTAL_SYSTEMS) if s not in fitted.crystal_systems_]
    seen = [i for i, s in enumerate(CRYSTAL_SYSTEMS) if s in fitted.crystal_systems_]
    with torch.no_grad():
        for index in unseen:
            prompt = module.prompts(torch.tensor([index]))
            assert prompt.shape == (1, weight.shape[1])
            torch.testing.assert_close(prompt[0], weight[trained].mean(0))
            assert not torch.allclose(prompt[0], weight[index])
        prompts = module.prompts(torch.tensor(seen))
        torch.testing.assert_close(prompts, weight[seen])


def test_model_trained_on_cubic_predicts_hexagonal(data):
    X, y = data
    cubic = [rock_salt(5.64), rock_salt(5.0, ("Mg", "O")), diamond(3.57), diamond(5.43, "Si")]
    assert set(crystal_systems(cubic)) == {"cubic"}
    model = tiny().fit(cubic, y[:4])
    assert model.crystal_systems_ == ["cubic"]
    hexagonal = wurtzite()
    assert crystal_systems([hexagonal]) == ["hexagonal"]
    prediction = model.predict([hexagonal, isolated_atom_cell()])
    assert prediction.shape == (2, 12)
    assert np.isfinite(prediction).all() and (prediction >= 0).all()

    module = model.net_.module_
    weight = module.system_prompts.weight.detach()
    trained = torch.tensor([s in model.crystal_systems_ for s in CRYSTAL_SYSTEMS])
    index = CRYSTAL_SYSTEMS.index("hexagonal")
    with torch.no_grad():
        prompt = module.prompts(torch.tensor([index]))
    torch.testing.assert_close(prompt[0], weight[trained].mean(0))
    assert not torch.allclose(prompt[0], weight[index])


# -- 13. training and explicit validation sets -------------------------------------------


def test_training_reduces_loss(data):
    X, y = data
    model = tiny(max_epochs=30, patience=None).fit(X, y)
    history = model.net_.history
    assert model.n_epochs_ == len(history) == 30
    assert history[-1, "train_loss"] < history[0, "train_loss"]


def test_explicit_validation_set(data):
    X, y = data
    X_valid, y_valid = [rock_salt(5.3), wurtzite(3.1, 5.0)], y[:2]
    model = tiny().fit(X, y, X_valid=X_valid, y_valid=y_valid)
    history = model.net_.history
    assert all(np.isfinite(row["valid_loss"]) for row in history)
    # Every training sample is used for training, the explicit set for validation.
    last = history[-1]["batches"]
    assert sum(b["train_batch_size"] for b in last if "train_batch_size" in b) == len(X)
    assert sum(b["valid_batch_size"] for b in last if "valid_batch_size" in b) == 2
    assert model.predict(X).shape == (8, 12)


def test_validation_set_not_pickled(data):
    X, y = data
    model = tiny(max_epochs=1).fit(X, y, X_valid=X[:2], y_valid=y[:2])
    assert model.net_.train_split is None


def test_x_valid_without_y_valid(data):
    X, y = data
    with pytest.raises(ValueError, match="X_valid and y_valid"):
        tiny().fit(X, y, X_valid=X[:2])
    with pytest.raises(ValueError, match="X_valid and y_valid"):
        tiny().fit(X, y, y_valid=y[:2])


def test_y_valid_on_other_grid(data):
    X, y = data
    with pytest.raises(ValueError, match="y_valid"):
        tiny().fit(X, y, X_valid=X[:2], y_valid=y[:2, :6])


# -- 14. no validation split -------------------------------------------------------------


def test_without_validation_split_early_stopping_uses_train_loss(data):
    X, y = data
    # One batch per epoch and a learning rate so small that the training loss cannot
    # improve by the early-stopping threshold: training must stop after `patience` epochs.
    model = tiny(validation_fraction=None, max_epochs=20, patience=2, lr=1e-9, batch_size=8)
    model.fit(X, y)
    history = model.net_.history
    assert all("valid_loss" not in row for row in history)
    last = history[-1]["batches"]
    assert sum(b["train_batch_size"] for b in last if "train_batch_size" in b) == len(X)
    assert dict(model.net_.callbacks_)["early_stopping"].monitor == "train_loss"
    assert model.n_epochs_ <= 5
    assert model.predict(X).shape == (8, 12)


def test_without_validation_split_trains_all_epochs_without_patience(data):
    X, y = data
    model = tiny(validation_fraction=None, patience=None, max_epochs=2).fit(X, y)
    assert model.n_epochs_ == 2
    assert "early_stopping" not in dict(model.net_.callbacks_)
    assert all("valid_loss" not in row for row in model.net_.history)


# -- 15. loss ----------------------------------------------------------------------------


def test_loss_of_pair_and_single_prediction():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(5, 12, generator=generator)
    system = torch.rand(5, 12, generator=generator)
    global_ = torch.rand(5, 12, generator=generator)

    def rmse(prediction):
        return torch.sqrt(torch.mean((prediction - target) ** 2))

    loss = DOSTransformerLoss(beta=0.5)
    torch.testing.assert_close(loss((system, global_), target), rmse(global_) + 0.5 * rmse(system))
    torch.testing.assert_close(loss([system, global_], target), rmse(global_) + 0.5 * rmse(system))
    torch.testing.assert_close(loss(system, target), rmse(system))
    # The two paths are not interchangeable when beta != 1.
    assert not torch.isclose(loss((system, global_), target), loss((global_, system), target))


def test_hidden_not_divisible_by_heads_is_a_value_error(small_data):
    X, y = small_data
    with pytest.raises(ValueError, match="divisible by n_heads"):
        tiny(hidden=18, n_heads=4).fit(X, y)


def test_ensemble_averages_its_members(small_data):
    X, y = small_data
    model = tiny(n_ensemble=2).fit(X, y)
    assert len(model.nets_) == 2 and model.net_ is model.nets_[0]
    dataset = DOSDataset(model._inputs(X))
    members = np.stack([net.predict(dataset) * model.y_scale_ for net in model.nets_])
    assert not np.allclose(members[0], members[1])  # different initialisations
    prediction = model.predict(X)
    assert np.all(prediction >= np.clip(members.min(axis=0), 0, None) - 1e-6)
    assert np.all(prediction <= np.clip(members.max(axis=0), 0, None) + 1e-6)
    again = tiny(n_ensemble=2).fit(X, y).predict(X)
    assert np.array_equal(prediction, again)
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(X), prediction)


@pytest.mark.parametrize("n_ensemble", [0, -1, 1.5])
def test_bad_n_ensemble_is_a_value_error(small_data, n_ensemble):
    X, y = small_data
    with pytest.raises(ValueError, match="n_ensemble"):
        tiny(n_ensemble=n_ensemble).fit(X, y)


# -- 16. prompt fine-tuning (the paper's Table 3) ------------------------------------------


@pytest.fixture(scope="module")
def cubic_model(data):
    """A model that has seen cubic crystals only, and two hexagonal crystals with their DOS."""
    _, y = data
    cubic = [rock_salt(5.64), rock_salt(5.0, ("Mg", "O")), diamond(3.57), diamond(5.43, "Si")]
    model = tiny().fit(cubic, y[:4])
    hexagonal = [wurtzite(), wurtzite(3.4, 5.5)]
    return model, hexagonal, y[4:6]


def snapshot(module) -> dict:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def test_fine_tune_only_prompt_leaves_everything_else_unchanged(cubic_model):
    model, X_new, y_new = cubic_model
    model = pickle.loads(pickle.dumps(model))
    before = snapshot(model.net_.module_)
    prediction_before = model.predict(X_new)
    assert model.fine_tune(X_new, y_new, max_epochs=5) is model
    after = snapshot(model.net_.module_)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {
        "trained_systems",
        "system_prompts.weight",
        "decoder.0.weight",
        "decoder.0.bias",
        "decoder.3.weight",
        "decoder.3.bias",
    }
    hexagonal = CRYSTAL_SYSTEMS.index("hexagonal")
    unchanged_prompts = [i for i in range(len(CRYSTAL_SYSTEMS)) if i != hexagonal]
    torch.testing.assert_close(
        before["system_prompts.weight"][unchanged_prompts],
        after["system_prompts.weight"][unchanged_prompts],
    )
    assert model.crystal_systems_ == ["cubic", "hexagonal"]
    assert bool(model.net_.module_.trained_systems[hexagonal])
    assert not np.allclose(model.predict(X_new), prediction_before)
    # Every parameter is trainable again for a later fit or fine-tune.
    assert all(p.requires_grad for p in model.net_.module_.parameters())


def test_fine_tune_leaves_other_systems_prompts_alone_at_high_lr(cubic_model):
    # Weight decay acts on the whole prompt table; only the new system's row may move.
    model, X_new, y_new = cubic_model
    model = pickle.loads(pickle.dumps(model))
    before = snapshot(model.net_.module_)["system_prompts.weight"]
    for only_prompt in (True, False):
        model.fine_tune(X_new, y_new, only_prompt=only_prompt, max_epochs=20, lr=5e-2)
    after = model.net_.module_.system_prompts.weight.detach()
    hexagonal = CRYSTAL_SYSTEMS.index("hexagonal")
    others = [i for i in range(len(CRYSTAL_SYSTEMS)) if i != hexagonal]
    assert torch.equal(before[others], after[others])
    assert not torch.equal(before[hexagonal], after[hexagonal])


def test_fine_tune_starts_new_prompt_from_mean_prompt(cubic_model):
    model, X_new, y_new = cubic_model
    model = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        before = model.predict(X_new)
    # lr=0: nothing learns, so only the prompt initialisation acts; it is the
    # mean prompt the untrained system used before, so predictions stay put.
    model.fine_tune(X_new, y_new, max_epochs=1, lr=0.0)
    np.testing.assert_allclose(model.predict(X_new), before, atol=1e-6)


def test_fine_tune_all_parameters_changes_the_encoder(cubic_model):
    model, X_new, y_new = cubic_model
    model = pickle.loads(pickle.dumps(model))
    before = snapshot(model.net_.module_)
    model.fine_tune(X_new, y_new, only_prompt=False, max_epochs=3)
    after = snapshot(model.net_.module_)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(name.startswith("encoder.") for name in changed)
    assert any(name.startswith("cross_attention.") for name in changed)
    assert len(changed) > len(before) // 2


def test_fine_tune_reduces_error_on_the_new_crystals(cubic_model):
    model, X_new, y_new = cubic_model
    model = pickle.loads(pickle.dumps(model))
    error_before = mse(y_new, model.predict(X_new))
    model.fine_tune(X_new, y_new, max_epochs=40, lr=1e-2)
    assert mse(y_new, model.predict(X_new)) < error_before


def test_fine_tune_is_deterministic(cubic_model):
    model, X_new, y_new = cubic_model
    first = pickle.loads(pickle.dumps(model)).fine_tune(X_new, y_new, max_epochs=3)
    second = pickle.loads(pickle.dumps(model)).fine_tune(X_new, y_new, max_epochs=3)
    np.testing.assert_array_equal(first.predict(X_new), second.predict(X_new))


def test_fine_tune_runs_user_callbacks_and_keeps_n_epochs(data):
    from skorch.callbacks import Callback

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    X, y = data
    counter = CountEpochs()
    model = tiny(callbacks=[("count", counter)], patience=None).fit(X[:4], y[:4])
    n_epochs = model.n_epochs_
    model.fine_tune(X[4:6], y[4:6], max_epochs=2)
    assert dict(model.net_.callbacks_)["count"].epochs == 2
    assert model.n_epochs_ == n_epochs == TINY["max_epochs"]


def test_fine_tune_every_ensemble_member(data):
    X, y = data
    model = tiny(n_ensemble=2).fit(X[:4], y[:4])
    before = [snapshot(net.module_)["decoder.3.bias"] for net in model.nets_]
    model.fine_tune(X[4:6], y[4:6], max_epochs=2)
    after = [net.module_.decoder[3].bias.detach() for net in model.nets_]
    assert len(model.nets_) == 2 and model.net_ is model.nets_[0]
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


def test_fine_tune_keeps_the_sklearn_contract(cubic_model):
    model, X_new, y_new = cubic_model
    with pytest.raises(NotFittedError):
        tiny().fine_tune(X_new, y_new)
    tuned = pickle.loads(pickle.dumps(model)).fine_tune(X_new, y_new, max_epochs=1)
    fresh = clone(tuned)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == tuned.get_params()


def test_fine_tune_rejects_bad_input(cubic_model):
    model, X_new, y_new = cubic_model
    with pytest.raises(ValueError, match="trained on a grid of 12"):
        model.fine_tune(X_new, np.ones((2, 7)))
    for max_epochs in (0, 2.5, True):
        with pytest.raises(ValueError, match="max_epochs"):
            model.fine_tune(X_new, y_new, max_epochs=max_epochs)
    with pytest.raises(ValueError, match="only_prompt"):
        model.fine_tune(X_new, y_new, only_prompt="yes")
    with pytest.raises(ValueError, match="lr"):
        model.fine_tune(X_new, y_new, lr=-1e-3)
    with pytest.raises(ValueError, match="Sample 1"):
        model.fine_tune([X_new[0], "not a crystal"], y_new)


@pytest.mark.slow
def test_fits_are_bit_identical_at_two_threads_and_leave_torch_as_they_found_it():
    X, y = tiny_dataset()
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first = tiny_transformer(max_epochs=4).fit(X, y)
        second = tiny_transformer(max_epochs=4).fit(X, y)
        np.testing.assert_array_equal(first.predict(X), second.predict(X))
        for a, b in zip(
            first.net_.module_.parameters(), second.net_.module_.parameters(), strict=True
        ):
            assert torch.equal(a, b)
    finally:
        torch.set_num_threads(previous)
    assert not torch.are_deterministic_algorithms_enabled()
