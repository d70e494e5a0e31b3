"""Shared tests of every structure regressor: the scikit-learn contract, invariances and errors.

One table lists DOSTransformer and the paper's three baselines in both forms
("energy ✗" and "energy ✓"); every test runs on each row. Each model is tiny
(8 to 16 wide, 3 epochs) and is fitted once per module on
:func:`conftest.tiny_dataset`, so the file runs in well under a minute on two cores.
"""

import inspect
import pickle

import numpy as np
import pytest
from conftest import bad_targets, rock_salt, tiny_dataset
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.spatial.transform import Rotation
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_val_score

from dos_estimators import (
    DOSTransformerRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
)
from dos_estimators.metrics import r2_pooled
from dos_estimators.nn import EnergyHead, VectorHead

TRAINING = dict(max_epochs=3, patience=None, batch_size=4, random_state=0)

TRANSFORMER = dict(
    hidden=16, n_heads=2, n_gnn_layers=1, n_cross_layers=1, n_self_layers=1, n_cross_layers_out=1
)
MLP = dict(hidden=16, n_layers=2)
GRAPH_NETWORK = dict(hidden=16, n_layers=1)
E3NN = dict(hidden=8, embedding=8, mul=2, n_layers=1, radial_neurons=8)

# name: (class, tiny architecture); "+energy" is the paper's "energy ✓" form.
ESTIMATORS = {
    "dostransformer": (DOSTransformerRegressor, TRANSFORMER),
    "mlp": (MLPDOSRegressor, {**MLP, "use_energy": False}),
    "mlp+energy": (MLPDOSRegressor, {**MLP, "use_energy": True}),
    "graph_network": (GraphNetworkDOSRegressor, {**GRAPH_NETWORK, "use_energy": False}),
    "graph_network+energy": (GraphNetworkDOSRegressor, {**GRAPH_NETWORK, "use_energy": True}),
    "e3nn": (E3NNDOSRegressor, {**E3NN, "use_energy": False}),
    "e3nn+energy": (E3NNDOSRegressor, {**E3NN, "use_energy": True}),
}
BASELINES = {
    MLPDOSRegressor: MLP,
    GraphNetworkDOSRegressor: GRAPH_NETWORK,
    E3NNDOSRegressor: E3NN,
}
WITH_CUTOFF = [name for name, (cls, _) in ESTIMATORS.items() if cls is not MLPDOSRegressor]


def build(name: str, **overrides):
    """The tiny, seeded estimator of row ``name`` of :data:`ESTIMATORS`."""
    cls, architecture = ESTIMATORS[name]
    return cls(**{**architecture, **TRAINING, **overrides})


def rotated(structure: Structure, matrix: np.ndarray) -> Structure:
    """The same crystal in a rotated Cartesian frame: rotated lattice, same fractional coords."""
    return Structure(
        Lattice(structure.lattice.matrix @ matrix.T), structure.species, structure.frac_coords
    )


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


@pytest.fixture(scope="module", params=list(ESTIMATORS))
def name(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(name, data):
    X, y = data
    return build(name).fit(X, y)


# -- shapes, values, grids, score --------------------------------------------------------


def test_fit_predict_shape_and_values(fitted, data):
    X, y = data
    prediction = fitted.predict(X)
    assert isinstance(prediction, np.ndarray)
    assert prediction.shape == y.shape == (8, 12)
    assert prediction.dtype.kind == "f"
    assert np.isfinite(prediction).all()
    assert (prediction >= 0).all()
    # The model looks at its input: crystals do not all get the same DOS.
    assert np.ptp(prediction, axis=0).max() > 1e-3
    assert fitted.n_energies_ == 12
    assert fitted.n_epochs_ == TRAINING["max_epochs"]
    assert fitted.predict(X[2:5]).shape == (3, 12)


def test_fit_returns_self(name, data):
    X, y = data
    model = build(name, max_epochs=1)
    assert model.fit(X, y) is model


def test_201_point_grid(name):
    X, y = tiny_dataset(n_energies=201)
    model = build(name).fit(X, y)
    prediction = model.predict(X)
    assert model.n_energies_ == 201
    assert prediction.shape == (8, 201)
    assert np.isfinite(prediction).all() and (prediction >= 0).all()
    assert model.predict([X[4]]).shape == (1, 201)


def test_score_is_pooled_r2(fitted, data):
    X, y = data
    score = fitted.score(X, y)
    assert isinstance(score, float)
    assert score == pytest.approx(r2_pooled(y, fitted.predict(X)), rel=1e-12, abs=1e-12)


def test_score_rejects_other_grid(fitted, data):
    X, y = data
    with pytest.raises(ValueError, match="grid"):
        fitted.score(X, y[:, :6])


def test_ase_atoms_input_matches_structures(fitted, data):
    X, _ = data
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in X]
    np.testing.assert_allclose(fitted.predict(atoms), fitted.predict(X), atol=1e-5, rtol=0)


# -- invariances -------------------------------------------------------------------------


def test_batch_invariance(fitted, data):
    X, _ = data
    together = fitted.predict(X)
    one_by_one = np.vstack([fitted.predict([s]) for s in X])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, rtol=0)
    reverse = fitted.predict(X[::-1])[::-1]
    np.testing.assert_allclose(together, reverse, atol=1e-5, rtol=0)


def test_rotation_invariance(fitted, data):
    X, _ = data
    matrix = Rotation.random(random_state=7).as_matrix()
    turned = [rotated(s, matrix) for s in X]
    # The crystals really moved in Cartesian space, and are the same crystals.
    assert not np.allclose(turned[4].cart_coords, X[4].cart_coords, atol=1e-2)
    assert not np.allclose(turned[4].lattice.matrix, X[4].lattice.matrix, atol=1e-2)
    np.testing.assert_allclose(turned[4].frac_coords, X[4].frac_coords)
    np.testing.assert_allclose(fitted.predict(turned), fitted.predict(X), atol=1e-4, rtol=0)


# -- determinism -------------------------------------------------------------------------


def test_same_random_state_gives_identical_predictions(fitted, name, data):
    X, y = data
    again = build(name).fit(X, y)
    assert np.array_equal(again.predict(X), fitted.predict(X))


def test_different_random_state_gives_different_predictions(fitted, name, data):
    X, y = data
    other = build(name, random_state=1).fit(X, y)
    assert not np.allclose(other.predict(X), fitted.predict(X), atol=1e-6)


def test_ten_optimiser_steps(name, data):
    # One batch per epoch for ten epochs: the one-cycle warm-up (10 %) lasts exactly one step.
    X, y = data
    model = build(name, max_epochs=10, batch_size=len(X), validation_fraction=None).fit(X, y)
    assert model.n_epochs_ == 10
    assert model.predict(X).shape == (8, 12)


# -- scikit-learn contract ---------------------------------------------------------------


def test_get_params_matches_constructor(name):
    cls, architecture = ESTIMATORS[name]
    model = build(name)
    params = model.get_params()
    assert set(params) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    for key, value in {**architecture, **TRAINING}.items():
        assert params[key] == value


def test_clone_is_unfitted_with_equal_params(fitted, data):
    copy = clone(fitted)
    assert copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_") and not hasattr(copy, "n_energies_")
    with pytest.raises(NotFittedError):
        copy.predict(data[0][:1])


def test_set_params(name):
    model = build(name)
    assert model.set_params(hidden=8, max_epochs=5) is model
    assert (model.get_params()["hidden"], model.get_params()["max_epochs"]) == (8, 5)
    assert (model.hidden, model.max_epochs) == (8, 5)
    with pytest.raises(ValueError):
        model.set_params(not_a_parameter=1)


def test_pickle_round_trip(fitted, data):
    X, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    assert type(restored) is type(fitted)
    assert restored.get_params() == fitted.get_params()
    assert restored.n_energies_ == fitted.n_energies_
    assert np.array_equal(restored.predict(X), fitted.predict(X))


def test_predict_before_fit_raises(name):
    model = build(name)
    with pytest.raises(NotFittedError):
        model.predict([rock_salt()])
    with pytest.raises(NotFittedError):
        model.score([rock_salt()], np.ones((1, 12)))


def test_cross_val_score_matches_manual_folds(name, data):
    X, y = data
    cv = KFold(2)
    manual = []
    for train, test in cv.split(X):
        model = build(name).fit([X[i] for i in train], y[train])
        manual.append(r2_pooled(y[test], model.predict([X[i] for i in test])))
    scores = cross_val_score(build(name), X, y, cv=cv)
    assert scores.shape == (2,)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, manual, rtol=1e-10)


# -- the two forms of the baselines ------------------------------------------------------


@pytest.mark.parametrize("cls", list(BASELINES), ids=lambda cls: cls.__name__)
def test_use_energy_selects_the_head(cls, data):
    X, y = data
    params = {**BASELINES[cls], **TRAINING, "max_epochs": 1}
    whole = cls(use_energy=False, **params).fit(X, y)
    pointwise = cls(use_energy=True, **params).fit(X, y)
    assert isinstance(whole.net_.module_.head, VectorHead)
    assert isinstance(pointwise.net_.module_.head, EnergyHead)
    assert pointwise.net_.module_.head.energy_embedding.num_embeddings == 12
    assert cls().use_energy is False
    assert pointwise.predict(X).shape == whole.predict(X).shape == (8, 12)
    assert not np.allclose(pointwise.predict(X), whole.predict(X))


# -- input errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", r"NaN or infinite.*row 3"),
        ("negative", r"negative.*row 3"),
        ("rows", r"8 structures but y has 7 rows"),
        ("1d", r"shape \(n_samples, n_energies\)"),
    ],
)
def test_fit_rejects_bad_y(name, data, kind, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        build(name).fit(X, bad_targets(kind, y))


def test_fit_names_index_of_non_structure(name, data):
    X, y = data
    X = list(X)
    X[2] = "not a crystal"
    with pytest.raises(ValueError, match=r"Sample 2\b.*str"):
        build(name).fit(X, y)


def test_predict_names_index_of_non_structure(fitted, data):
    X = list(data[0][:4])
    X[3] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"Sample 3\b.*ndarray"):
        fitted.predict(X)


@pytest.mark.parametrize("hidden", [0, -4])
def test_bad_hidden_is_a_value_error(name, data, hidden):
    X, y = data
    with pytest.raises(ValueError, match="hidden"):
        build(name, hidden=hidden).fit(X, y)


@pytest.mark.parametrize("cls", list(BASELINES), ids=lambda cls: cls.__name__)
def test_bad_n_layers_is_a_value_error(cls, data):
    X, y = data
    with pytest.raises(ValueError, match="n_layers"):
        cls(**{**BASELINES[cls], **TRAINING, "n_layers": 0}).fit(X, y)


@pytest.mark.parametrize("cls", list(BASELINES), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("use_energy", ["yes", 1, None])
def test_bad_use_energy_is_a_value_error(cls, data, use_energy):
    X, y = data
    with pytest.raises(ValueError, match="use_energy"):
        cls(**{**BASELINES[cls], **TRAINING, "use_energy": use_energy}).fit(X, y)


@pytest.mark.parametrize("name", WITH_CUTOFF)
@pytest.mark.parametrize("cutoff", [0.0, -1.0])
def test_bad_cutoff_is_a_value_error(name, data, cutoff):
    X, y = data
    with pytest.raises(ValueError, match="cutoff must be positive"):
        build(name, cutoff=cutoff).fit(X, y)


def test_mlp_has_no_cutoff():
    # The MLP never looks at neighbours, so it takes no cutoff.
    assert "cutoff" not in MLPDOSRegressor().get_params()


@pytest.mark.parametrize(
    ("param", "value"),
    [("mul", 0), ("embedding", 0), ("lmax", -1), ("n_basis", 0), ("radial_neurons", 0)],
)
def test_bad_e3nn_parameter_is_a_value_error(data, param, value):
    X, y = data
    with pytest.raises(ValueError, match=param):
        build("e3nn", **{param: value}).fit(X, y)


def test_unknown_pooling(name, data):
    X, y = data
    with pytest.raises(ValueError, match="pooling"):
        build(name, pooling="max").fit(X, y)


def test_unknown_node_features(name, data):
    X, y = data
    with pytest.raises(ValueError, match="not_a_table"):
        build(name, node_features="not_a_table").fit(X, y)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("pooling", "max"),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("lr", 0.0),
        ("lr", True),
        ("weight_decay", -1e-4),
        ("patience", -1),
        ("patience", 2.5),
        ("validation_fraction", "half"),
        ("beta", -1.0),
        ("symprec", 0.0),
    ],
)
def test_bad_parameter_fails_before_the_structures_are_read(name, param, value):
    # Parameters are checked first: the structures here are not even structures.
    cls, _ = ESTIMATORS[name]
    if param not in cls().get_params():
        pytest.skip(f"{cls.__name__} has no {param}")
    model = build(name, **{param: value})
    with pytest.raises(ValueError, match=f"^{param}"):
        model.fit(["not a structure"] * 4, np.ones((4, 3)))
