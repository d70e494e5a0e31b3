"""Tests of ``MatminerFeaturizer`` (matminer featurizers as transformers) and ``tree_reference``.

Crystals are built here; every matminer preset used ships its data, so the
file runs offline.
"""

import time

import numpy as np
import pytest
from conftest import diamond, rock_salt, tiny_dataset, wurtzite
from matminer.featurizers.base import BaseFeaturizer
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.structure import (
    DensityFeatures,
    PartialRadialDistributionFunction,
    SiteStatsFingerprint,
)
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline

from dos_estimators import MatminerFeaturizer, tree_reference
from dos_estimators.metrics import SCORERS, r2_pooled


class FailingFeaturizer(BaseFeaturizer):
    """Counts atoms and elements of a composition; fails on one reduced formula."""

    def __init__(self, fail_on="MgO"):
        self.fail_on = fail_on

    def featurize(self, composition):
        if composition.reduced_formula == self.fail_on:
            raise KeyError(f"no data for {self.fail_on}")
        return [composition.num_atoms, len(composition.elements)]

    def feature_labels(self):
        return ["n_atoms", "n_elements"]

    def citations(self):
        return []

    def implementors(self):
        return ["tests"]


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


def magpie() -> MatminerFeaturizer:
    return MatminerFeaturizer(ElementProperty.from_preset("magpie"), source="composition")


# -- MatminerFeaturizer ------------------------------------------------------------------


def test_structure_source_matches_the_featurizer(data):
    X, _ = data
    featurizer = DensityFeatures()
    features = MatminerFeaturizer(featurizer).fit_transform(X)
    assert isinstance(features, np.ndarray) and features.dtype == float
    assert features.shape == (8, 3)
    expected = np.array([featurizer.featurize(s) for s in X])
    np.testing.assert_allclose(features, expected)
    # Different crystals, different rows.
    assert len({tuple(row) for row in features.round(6)}) == 8


def test_composition_source_matches_the_featurizer(data):
    X, _ = data
    featurizer = ElementProperty.from_preset("magpie")
    features = MatminerFeaturizer(featurizer, source="composition").fit_transform(X)
    assert features.shape == (8, 132)
    expected = np.array([featurizer.featurize(s.composition) for s in X])
    np.testing.assert_allclose(features, expected)
    # Rock salt NaCl and diamond Si differ in composition, not only in structure.
    assert not np.allclose(features[0], features[3])


def test_composition_source_ignores_geometry():
    small, large = rock_salt(5.0), rock_salt(6.0)
    features = magpie().fit_transform([small, large])
    np.testing.assert_array_equal(features[0], features[1])
    density = MatminerFeaturizer(DensityFeatures()).fit_transform([small, large])
    assert not np.allclose(density[0], density[1])


def test_ase_atoms_input(data):
    X, _ = data
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in X]
    for transformer in (magpie(), MatminerFeaturizer(DensityFeatures())):
        from_atoms = clone(transformer).fit_transform(atoms)
        np.testing.assert_allclose(from_atoms, clone(transformer).fit_transform(X), rtol=1e-6)


def test_get_feature_names_out(data):
    X, _ = data
    featurizer = DensityFeatures()
    transformer = MatminerFeaturizer(featurizer).fit(X)
    names = transformer.get_feature_names_out()
    assert names.tolist() == featurizer.feature_labels() == ["density", "vpa", "packing fraction"]
    assert transformer.n_features_out_ == 3
    assert magpie().fit(X).get_feature_names_out()[0] == "MagpieData minimum Number"


def test_pandas_output_uses_feature_names(data):
    X, _ = data
    transformer = MatminerFeaturizer(DensityFeatures()).set_output(transform="pandas")
    frame = transformer.fit_transform(X)
    assert frame.columns.tolist() == ["density", "vpa", "packing fraction"]
    assert frame.shape == (8, 3)


def test_not_fitted(data):
    X, _ = data
    transformer = MatminerFeaturizer(DensityFeatures())
    with pytest.raises(NotFittedError):
        transformer.transform(X)
    with pytest.raises(NotFittedError):
        transformer.get_feature_names_out()


def test_passed_featurizer_is_not_mutated(data):
    X, _ = data
    featurizer = PartialRadialDistributionFunction(cutoff=4.0, bin_size=0.5)
    transformer = MatminerFeaturizer(featurizer).fit(X[:4])
    # fit learns the elements on a copy; the caller's object stays unfitted.
    assert featurizer.elements_ is None
    assert transformer.featurizer_ is not featurizer
    assert set(transformer.featurizer_.elements_) == {"Na", "Cl", "Mg", "O", "C", "Si"}
    assert transformer.get_params()["featurizer"] is featurizer
    assert transformer.transform(X[:2]).shape == (2, transformer.n_features_out_)


def test_failure_names_the_sample(data):
    X, _ = data
    # Sample 1 of the tiny data set is rock-salt MgO.
    transformer = MatminerFeaturizer(FailingFeaturizer("MgO"), source="composition").fit(X)
    with pytest.raises(ValueError, match=r"Sample 1\b.*FailingFeaturizer.*Mg1 O1.*no data") as info:
        transformer.transform(X)
    assert isinstance(info.value.__cause__, KeyError)


def test_wrong_source_for_the_featurizer_names_the_sample(data):
    X, _ = data
    # A composition featurizer given the Structure itself fails on the first sample.
    transformer = MatminerFeaturizer(ElementProperty.from_preset("magpie"), source="structure")
    with pytest.raises(ValueError, match=r"Sample 0\b.*ElementProperty"):
        transformer.fit_transform(X)


def test_ignore_errors_gives_a_nan_row(data):
    X, _ = data
    featurizer = FailingFeaturizer("MgO")
    transformer = MatminerFeaturizer(featurizer, source="composition", ignore_errors=True)
    features = transformer.fit_transform(X)
    assert features.shape == (8, 2)
    assert np.isnan(features[1]).all()
    others = np.delete(features, 1, axis=0)
    assert np.isfinite(others).all()
    assert features[0].tolist() == [2.0, 2.0]  # NaCl
    assert features[4].tolist() == [4.0, 2.0]  # wurtzite ZnO, four atoms


@pytest.mark.parametrize("source", ["structures", "formula", None])
def test_bad_source(data, source):
    X, _ = data
    with pytest.raises(ValueError, match="source"):
        MatminerFeaturizer(DensityFeatures(), source=source).fit(X)


def test_non_structure_names_the_sample(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"Sample 2\b.*str"):
        MatminerFeaturizer(DensityFeatures()).fit([X[0], X[1], "NaCl"])


def test_clone_keeps_params(data):
    X, _ = data
    transformer = MatminerFeaturizer(DensityFeatures(), ignore_errors=True).fit(X)
    copy = clone(transformer)
    assert copy.get_params()["source"] == "structure"
    assert copy.get_params()["ignore_errors"] is True
    assert not hasattr(copy, "featurizer_")
    np.testing.assert_array_equal(copy.fit_transform(X), transformer.transform(X))


def test_clone_site_stats_fingerprint_preset(data):
    # cross_val_score and GridSearchCV clone every step of a Pipeline.
    X, _ = data
    transformer = MatminerFeaturizer(SiteStatsFingerprint.from_preset("CrystalNNFingerprint_ops"))
    copy = clone(transformer)
    np.testing.assert_allclose(copy.fit_transform(X[:3]), transformer.fit_transform(X[:3]))


# -- tree_reference ----------------------------------------------------------------------


def test_tree_reference_pipeline(data):
    X, y = data
    model = tree_reference(n_estimators=10, random_state=0)
    assert isinstance(model, Pipeline)
    assert list(model.named_steps) == ["features", "trees"]
    trees = model.named_steps["trees"]
    assert isinstance(trees, ExtraTreesRegressor) and trees.n_estimators == 10
    prediction = model.fit(X, y).predict(X)
    assert prediction.shape == (8, 12)
    assert np.isfinite(prediction).all()
    assert model.named_steps["trees"].n_features_in_ == 132 + 3
    names = model.named_steps["features"].get_feature_names_out()
    assert len(names) == 135 and "density__vpa" in names
    assert model.predict([wurtzite(3.1, 5.0), diamond(5.66, "Ge")]).shape == (2, 12)


def test_tree_reference_default_size():
    assert tree_reference().named_steps["trees"].n_estimators == 300


def test_tree_reference_is_deterministic(data):
    X, y = data
    # Unseen crystals: fully grown trees reproduce every training DOS whatever the seed.
    unseen = [wurtzite(3.1, 5.0), diamond(5.66, "Ge"), rock_salt(4.2, ("Li", "F"))]
    first = tree_reference(n_estimators=10, random_state=0).fit(X, y).predict(unseen)
    second = tree_reference(n_estimators=10, random_state=0).fit(X, y).predict(unseen)
    assert np.array_equal(first, second)
    other = tree_reference(n_estimators=10, random_state=1).fit(X, y).predict(unseen)
    assert not np.allclose(first, other)


def test_tree_reference_cross_val_score(data):
    X, y = data
    cv = KFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(
        tree_reference(n_estimators=10, random_state=0),
        X,
        y,
        cv=cv,
        scoring=SCORERS["dos_r2_pooled"],
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()
    manual = []
    for train, test in cv.split(X):
        model = tree_reference(n_estimators=10, random_state=0)
        model.fit([X[i] for i in train], y[train])
        manual.append(r2_pooled(y[test], model.predict([X[i] for i in test])))
    np.testing.assert_allclose(scores, manual, rtol=1e-10)


def test_n_jobs_gives_the_serial_rows(data):
    X, _ = data
    serial = MatminerFeaturizer(DensityFeatures(), n_jobs=None).fit(X).transform(X)
    parallel = MatminerFeaturizer(DensityFeatures(), n_jobs=2).fit(X).transform(X)
    np.testing.assert_array_equal(parallel, serial)


class SlowFailingFeaturizer(FailingFeaturizer):
    """Fails on two formulas: on the first after a pause, on the second at once."""

    def __init__(self, slow="MgO", fast="ZnO"):
        self.slow = slow
        self.fast = fast

    def featurize(self, composition):
        if composition.reduced_formula == self.slow:
            time.sleep(1.0)
            raise KeyError(f"no data for {self.slow}")
        if composition.reduced_formula == self.fast:
            raise KeyError(f"no data for {self.fast}")
        return [composition.num_atoms, len(composition.elements)]


def test_n_jobs_failure_names_the_first_failing_sample_in_order(data):
    # Each process featurizes a chunk; the error names the first failing sample of X, with
    # its original error as the cause, even when a later sample fails first in time.
    X, _ = data
    formulas = [s.composition.reduced_formula for s in X]
    slow = formulas[1]
    fast = next(f for f in formulas[4:] if formulas.count(f) == 1 and f != slow)
    transformer = MatminerFeaturizer(
        SlowFailingFeaturizer(slow, fast), source="composition", n_jobs=2
    ).fit(X)
    with pytest.raises(ValueError, match=r"Sample 1\b.*SlowFailingFeaturizer.*no data") as info:
        transformer.transform(X)
    assert isinstance(info.value.__cause__, KeyError)
