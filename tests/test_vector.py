"""Tests of ``DOSVectorRegressor`` and of the matminer pipeline it exists for.

The regressor takes a plain feature matrix; the pipeline test featurizes small
crystals built here with matminer presets, offline, and runs the whole
``Pipeline`` through ``cross_val_score``.
"""

import pickle
import socket

import numpy as np
import pandas as pd
import pytest
from conftest import bad_targets, diamond, rock_salt, tiny_dataset, wurtzite
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.structure import DensityFeatures, SiteStatsFingerprint
from pymatgen.core import Lattice, Structure
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from dos_estimators import DOSVectorRegressor, MatminerFeaturizer
from dos_estimators.metrics import r2_pooled
from dos_estimators.nn import EnergyHead, VectorHead

TINY = dict(hidden=16, n_layers=2, max_epochs=4, patience=None, batch_size=8, random_state=0)


def tiny(**overrides) -> DOSVectorRegressor:
    return DOSVectorRegressor(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 5))
    grid = np.linspace(0, 1, 12)
    centres = 0.5 + 0.15 * np.tanh(X[:, :1])
    y = np.exp(-(((grid[None] - centres) / 0.15) ** 2))
    return X, y


@pytest.fixture(scope="module", params=[True, False], ids=["energy", "vector"])
def use_energy(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(data, use_energy):
    X, y = data
    return tiny(use_energy=use_energy).fit(X, y)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- the regressor -----------------------------------------------------------------------


def test_fit_predict_shapes_and_head(fitted, data, use_energy):
    X, y = data
    prediction = fitted.predict(X)
    assert prediction.shape == y.shape == (24, 12)
    assert np.isfinite(prediction).all() and (prediction >= 0).all()
    assert np.ptp(prediction, axis=0).max() > 1e-3
    assert fitted.n_energies_ == 12 and fitted.n_features_in_ == 5
    assert fitted.n_epochs_ == TINY["max_epochs"]
    head = fitted.net_.module_.head
    assert isinstance(head, EnergyHead if use_energy else VectorHead)
    assert fitted.predict(X[:1]).shape == (1, 12)


def test_default_head_is_pointwise():
    assert DOSVectorRegressor().use_energy is True


def test_201_point_grid(data, use_energy):
    X, _ = data
    y = np.random.default_rng(1).random((len(X), 201))
    model = tiny(use_energy=use_energy).fit(X, y)
    assert model.predict(X).shape == (24, 201)


def test_batch_invariance(fitted, data):
    X, _ = data
    together = fitted.predict(X)
    one_by_one = np.vstack([fitted.predict(row[None]) for row in X])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, rtol=0)


def test_determinism(fitted, data, use_energy):
    X, y = data
    again = tiny(use_energy=use_energy).fit(X, y)
    assert np.array_equal(again.predict(X), fitted.predict(X))
    other = tiny(use_energy=use_energy, random_state=1).fit(X, y)
    assert not np.allclose(other.predict(X), fitted.predict(X), atol=1e-6)


def test_score_is_pooled_r2(fitted, data):
    X, y = data
    expected = r2_pooled(y, fitted.predict(X))
    assert fitted.score(X, y) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_pickle_and_clone(fitted, data):
    X, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict(X), fitted.predict(X))
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_") and not hasattr(copy, "n_features_in_")


def test_predict_before_fit_raises(data):
    with pytest.raises(NotFittedError):
        tiny().predict(data[0])


def test_dataframe_feature_names(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    model = tiny(max_epochs=1).fit(frame, y)
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d", "e"]
    assert model.n_features_in_ == 5
    assert model.predict(frame).shape == (24, 12)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["e", "d", "c", "b", "a"]])
    # An array has no names to keep.
    assert not hasattr(tiny(max_epochs=1).fit(X, y), "feature_names_in_")


def test_nan_in_X(data):
    X, y = data
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny().fit(X, y)


def test_nan_in_X_at_predict(fitted, data):
    X = data[0][:4].copy()
    X[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(X)


def test_wrong_number_of_features_at_predict(fitted, data):
    with pytest.raises(ValueError, match="4 features.*expecting 5"):
        fitted.predict(data[0][:, :4])


def test_one_dimensional_X(data):
    X, y = data
    with pytest.raises(ValueError, match="2D"):
        tiny().fit(X[:, 0], y)


@pytest.mark.parametrize(
    ("kind", "message"),
    [("nan", r"NaN or infinite.*row 3"), ("negative", r"negative.*row 3"), ("rows", "23 rows")],
)
def test_bad_y(data, kind, message):
    X, y = data
    y = bad_targets(kind, y)
    with pytest.raises(ValueError, match=message):
        tiny().fit(X, y)


@pytest.mark.parametrize("use_energy", ["yes", 1, None])
def test_bad_use_energy(data, use_energy):
    with pytest.raises(ValueError, match="use_energy"):
        tiny(use_energy=use_energy).fit(*data)


@pytest.mark.parametrize(("param", "value"), [("hidden", 0), ("hidden", -2), ("n_layers", 0)])
def test_bad_width_or_depth(data, param, value):
    with pytest.raises(ValueError, match=param):
        tiny(**{param: value}).fit(*data)


def test_ten_optimiser_steps(data):
    # One batch per epoch for ten epochs: the one-cycle warm-up (10 %) lasts exactly one step.
    X, y = data
    model = tiny(max_epochs=10, batch_size=len(X), validation_fraction=None).fit(X, y)
    assert model.n_epochs_ == 10
    assert model.predict(X).shape == (24, 12)


# -- the matminer pipeline of the issue --------------------------------------------------


def crystals():
    """Twelve small crystals with smooth fake DOS that depend on their lattice constant."""
    structures, _ = tiny_dataset()
    structures = [
        *structures,
        rock_salt(4.2, ("Li", "F")),
        rock_salt(6.6, ("K", "Br")),
        diamond(5.66, "Ge"),
        wurtzite(3.19, 5.19),
        Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ]
    grid = np.linspace(0, 1, 20)
    # Peaks inside the grid: a DOS with no states on its grid is refused by fit.
    centres = np.array([min(0.2 + 0.1 * s.volume / len(s) / 10, 0.9) for s in structures])
    y = np.exp(-(((grid[None] - centres[:, None]) / 0.2) ** 2))
    return structures, y


def test_matminer_pipeline_cross_val_score(offline):
    X, y = crystals()
    pipeline = Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        (
                            "magpie",
                            MatminerFeaturizer(
                                ElementProperty.from_preset("magpie"), source="composition"
                            ),
                        ),
                        ("density", MatminerFeaturizer(DensityFeatures())),
                    ]
                ),
            ),
            ("scale", StandardScaler()),
            ("dos", tiny(use_energy=True)),
        ]
    )
    cv = KFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(pipeline, X, y, cv=cv)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    manual = []
    for train, test in cv.split(X):
        model = clone(pipeline).fit([X[i] for i in train], y[train])
        manual.append(r2_pooled(y[test], model.predict([X[i] for i in test])))
    np.testing.assert_allclose(scores, manual, rtol=1e-10)

    fitted = clone(pipeline).fit(X, y)
    assert fitted.named_steps["dos"].n_features_in_ == 132 + 3
    assert fitted.predict(X[:3]).shape == (3, 20)


def test_site_stats_fingerprint_pipeline(offline):
    X, y = crystals()
    featurizer = SiteStatsFingerprint.from_preset("CrystalNNFingerprint_ops")
    pipeline = Pipeline(
        [
            ("features", MatminerFeaturizer(featurizer)),
            ("scale", StandardScaler()),
            ("dos", tiny(use_energy=False)),
        ]
    )
    scores = cross_val_score(pipeline, X, y, cv=KFold(2))
    assert scores.shape == (2,) and np.isfinite(scores).all()
    fitted = pipeline.fit(X, y)
    width = len(featurizer.feature_labels())
    assert fitted.named_steps["dos"].n_features_in_ == width
    assert fitted.predict(X).shape == (len(X), 20)
