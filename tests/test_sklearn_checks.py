"""scikit-learn's own estimator checks, run on every estimator of the package.

``DOSVectorRegressor`` takes a feature matrix, so sklearn's whole suite runs on it
(``parametrize_with_checks``), at its defaults and at small settings. The others take
crystal structures or DOS objects and declare ``input_tags.two_d_array=False``, for
which sklearn runs only its clone check. For them this file calls sklearn's check
functions that need the estimator alone, and replays on tiny crystals (or spectra)
those that build array data inside, each under the name of the sklearn check it
replays.
"""

from __future__ import annotations

import pickle
import warnings
from copy import deepcopy
from dataclasses import dataclass
from inspect import signature

import joblib
import numpy as np
import pytest
from conftest import TINY_TRANSFORMER, tiny_dataset
from matminer.featurizers.structure import DensityFeatures
from numpy.testing import assert_allclose
from sklearn.base import clone, is_regressor
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError, SkipTestWarning
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_estimators_unfitted,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_regressor_multioutput,
    check_set_params,
    check_transformers_unfitted,
    check_valid_tag_types,
    estimator_checks_generator,
    parametrize_with_checks,
)
from sklearn.utils.validation import check_is_fitted

from dos_estimators import (
    DOSGrid,
    DOSTransformerRegressor,
    DOSVectorRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MatminerFeaturizer,
    MLPDOSRegressor,
)
from dos_estimators.features import element_table

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # Eight crystals of seven systems: DOSTransformer's training part misses some.
    pytest.mark.filterwarnings("ignore:.*crystal systems that training never saw:UserWarning"),
]


def check_name(check) -> str:
    """The name of a check function, also when it is a ``functools.partial``."""
    return getattr(check, "func", check).__name__


# -- array input: sklearn's whole suite ------------------------------------------------

# Small enough to fit in a moment, large enough for the R² > 0.5 that
# check_regressors_train asks on its 200 samples (0.79 and 0.73 measured; two epochs
# at hidden=8 reach only R² ≈ -7).
SMALL = dict(hidden=16, max_epochs=10, lr=1e-2, random_state=0)

# What sklearn's suite asks that a DOS regressor must refuse, by check name.
EXPECTED_FAILED_CHECKS = {
    "check_regressor_multioutput": (
        "a DOS is non-negative: this check fits make_regression's signed multi-output "
        "targets as they are (it does not apply the positive_only target tag), and fit "
        "rejects negative densities"
    ),
}


def expected_failed_checks(estimator) -> dict:
    return EXPECTED_FAILED_CHECKS if isinstance(estimator, DOSVectorRegressor) else {}


with warnings.catch_warnings():
    # sklearn warns that it cannot test DOSGrid and MatminerFeaturizer (not array input)
    # and yields only check_estimator_cloneable for them; a test below asserts that.
    warnings.simplefilter("ignore", SkipTestWarning)
    sklearn_suite = parametrize_with_checks(
        [
            DOSVectorRegressor(**SMALL),
            DOSVectorRegressor(use_energy=False, **SMALL),
            DOSVectorRegressor(),
            DOSGrid(),
            MatminerFeaturizer(DensityFeatures()),
        ],
        expected_failed_checks=expected_failed_checks,
        xfail_strict=True,
    )


@sklearn_suite
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_expected_failure_is_the_non_negative_dos_rule():
    # The expected failure fails for the reason given, not for another one.
    with pytest.raises(ValueError, match="negative densities"):
        check_regressor_multioutput("DOSVectorRegressor", DOSVectorRegressor(**SMALL))


@pytest.mark.xfail(
    strict=True,
    reason="predict returns float32, the networks' own precision: in float64 the last bits "
    "of a prediction depend on the batch it is computed in (up to 4e-7), which fails "
    "check_methods_subset_invariance instead",
)
def test_regressor_multioutput_on_non_negative_targets():
    # check_regressor_multioutput with the targets a DOS regressor accepts.
    X, y = make_regression(random_state=42, n_targets=5, n_samples=11, n_features=10)
    y = y - y.min()
    prediction = DOSVectorRegressor(**SMALL).fit(X, y).predict(X)
    assert prediction.shape == y.shape
    assert prediction.dtype == np.float64


@pytest.mark.parametrize(
    "estimator", [DOSGrid(), MatminerFeaturizer(DensityFeatures())], ids=lambda e: type(e).__name__
)
def test_sklearn_runs_only_its_clone_check_on_non_array_input(estimator):
    with pytest.warns(SkipTestWarning, match="Can't test estimator"):
        checks = [check_name(check) for _, check in estimator_checks_generator(estimator)]
    assert checks == ["check_estimator_cloneable"]


# -- structure and spectrum input: sklearn's checks on tiny crystals ---------------------


def tiny_spectra(n: int = 8, seed: int = 0) -> list:
    """``n`` (energies, densities, efermi) triples: one Gaussian peak each, around 0 eV."""
    rng = np.random.default_rng(seed)
    energies = np.linspace(-8.0, 8.0, 321)
    return [
        (energies, np.exp(-(((energies - centre) / 0.8) ** 2)) + 0.05, 0.0)
        for centre in rng.uniform(-3.0, 3.0, n)
    ]


@dataclass
class Case:
    """An estimator, its tiny training input and the method that gives its output."""

    estimator: object
    X: list
    y: np.ndarray | None = None

    @property
    def name(self) -> str:
        return type(self.estimator).__name__

    @property
    def method(self) -> str:
        return "predict" if is_regressor(self.estimator) else "transform"

    def output(self, estimator, X) -> np.ndarray:
        return getattr(estimator, self.method)(X)


STRUCTURES, DOS = tiny_dataset()
TINY_TRAINING = dict(max_epochs=2, random_state=0)
CASES = {
    "dostransformer": Case(
        DOSTransformerRegressor(**{**TINY_TRANSFORMER, **TINY_TRAINING}), STRUCTURES, DOS
    ),
    "mlp": Case(MLPDOSRegressor(hidden=16, n_layers=2, **TINY_TRAINING), STRUCTURES, DOS),
    "graph_network": Case(
        GraphNetworkDOSRegressor(hidden=16, n_layers=1, **TINY_TRAINING), STRUCTURES, DOS
    ),
    "e3nn": Case(
        E3NNDOSRegressor(
            hidden=16, embedding=8, mul=2, n_layers=1, radial_neurons=8, **TINY_TRAINING
        ),
        STRUCTURES,
        DOS,
    ),
    "matminer": Case(MatminerFeaturizer(DensityFeatures()), STRUCTURES),
    "dos_grid": Case(DOSGrid(), tiny_spectra()),
}

_FITTED: dict[str, object] = {}


def fitted(case: Case):
    """A fitted clone of the case's estimator, fitted once per session.

    The checks that only look at a fitted model share it; sklearn fits afresh in
    each check, but what they test is not the fit.
    """
    if case.name not in _FITTED:
        _FITTED[case.name] = clone(case.estimator).fit(case.X, case.y)
    return _FITTED[case.name]


# sklearn's check functions that take the estimator alone (no data), called as they are.
# check_estimators_unfitted passes an array X, but predict raises NotFittedError
# before it looks at X; so does transform in check_transformers_unfitted.
def sklearn_checks(case: Case) -> list:
    checks = [
        check_estimator_cloneable,
        check_estimator_repr,
        check_estimator_tags_renamed,
        check_valid_tag_types,
        check_mixin_order,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_parameters_default_constructible,
        check_do_not_raise_errors_in_init_or_set_params,
    ]
    if is_regressor(case.estimator):
        checks.append(check_estimators_unfitted)
    elif get_tags(case.estimator).requires_fit:
        checks.append(check_transformers_unfitted)
    return checks


# sklearn's checks that build array data inside, replayed on the case's input: the same
# assertions, under the same names.


def check_fit_score_takes_y(case):
    estimator = clone(case.estimator)
    for method in ("fit", "score", "fit_transform"):
        function = getattr(estimator, method, None)
        if function is None:
            continue
        function(case.X, case.y)
        arguments = list(signature(function).parameters)
        assert arguments[1] in ("y", "Y"), f"{method} takes {arguments}"


def check_estimators_fit_returns_self(case):
    estimator = clone(case.estimator)
    assert estimator.fit(case.X, case.y) is estimator


def check_estimators_overwrite_params(case):
    estimator = clone(case.estimator)
    original = deepcopy(estimator.get_params())
    estimator.fit(case.X, case.y)
    after = estimator.get_params()
    for name, value in original.items():
        assert joblib.hash(after[name]) == joblib.hash(value), f"fit changed {name}"


def check_dont_overwrite_parameters(case):
    estimator = clone(case.estimator)
    before = estimator.__dict__.copy()
    estimator.fit(case.X, case.y)
    public = [key for key in estimator.__dict__ if not key.startswith("_")]
    public = [key for key in public if not key.endswith("_")]
    assert not [key for key in public if key not in before], "fit added public attributes"
    assert not [key for key in public if before[key] is not estimator.__dict__[key]]


def check_fit_idempotent(case):
    estimator = clone(case.estimator)
    train, test = case.X[:6], case.X[6:]
    y_train = None if case.y is None else case.y[:6]
    first = case.output(estimator.fit(train, y_train), test)
    second = case.output(estimator.fit(train, y_train), test)
    tol = 2 * np.finfo(second.dtype).eps
    assert_allclose(first, second, atol=max(tol, 1e-9), rtol=max(tol, 1e-7))


def check_estimators_pickle(case):
    estimator = fitted(case)
    unpickled = pickle.loads(pickle.dumps(estimator))
    assert_allclose(case.output(estimator, case.X), case.output(unpickled, case.X))


def check_n_features_in(case):
    # Structures and spectra have no columns, so there is no n_features_in_, before fit or
    # after; the widths each estimator learns from its input are set by fit alone.
    learned = ("n_node_features_", "n_energies_", "n_features_out_", "energies_")
    estimator = clone(case.estimator)
    assert not [name for name in ("n_features_in_", *learned) if hasattr(estimator, name)]
    estimator.fit(case.X, case.y)
    assert not hasattr(estimator, "n_features_in_")
    width = case.output(estimator, case.X[:2]).shape[1]
    if is_regressor(estimator):
        table = element_table(estimator.node_features)
        assert estimator.n_node_features_ == table.values.shape[1]
        assert estimator.n_energies_ == case.y.shape[1] == width
    elif get_tags(estimator).requires_fit:
        assert estimator.n_features_out_ == width
    else:
        assert len(estimator.energies_) == width


def check_n_features_in_after_fitting(case):
    # The analogue of an X with the wrong number of columns: a feature matrix where
    # structures (or spectra) are expected, refused with a message naming the sample.
    with pytest.raises(ValueError, match="Sample 0: expected"):
        case.output(fitted(case), np.ones((3, 4)))


def check_fit_check_is_fitted(case):
    estimator = clone(case.estimator)
    if get_tags(estimator).requires_fit:
        with pytest.raises(NotFittedError):
            check_is_fitted(estimator)
    check_is_fitted(estimator.fit(case.X, case.y))


def check_dict_unchanged(case):
    estimator = fitted(case)
    before = estimator.__dict__.copy()
    case.output(estimator, case.X)
    assert estimator.__dict__ == before


def check_methods_subset_invariance(case):
    # One sample at a time against the whole set, as sklearn's _apply_on_subsets. The
    # networks compute in float32 (eps 1.2e-7, densities of order one), so the tolerance
    # is a few float32 eps rather than sklearn's 1e-7, which assumes float64.
    estimator = fitted(case)
    whole = case.output(estimator, case.X)
    one_by_one = np.vstack([case.output(estimator, [sample]) for sample in case.X])
    assert_allclose(whole, one_by_one, atol=8 * np.finfo(np.float32).eps)


def check_methods_sample_order_invariance(case):
    estimator = fitted(case)
    order = np.random.default_rng(0).permutation(len(case.X))
    permuted = case.output(estimator, [case.X[i] for i in order])
    assert_allclose(case.output(estimator, case.X)[order], permuted, atol=1e-9)


def check_estimators_empty_data_messages(case):
    estimator = clone(case.estimator)
    y = None if case.y is None else case.y[:0]
    with pytest.raises(ValueError):
        # DOSGrid's fit ignores X (it learns nothing): its transform is where X is read.
        if get_tags(estimator).requires_fit:
            estimator.fit([], y)
        else:
            estimator.transform([])


def check_fit2d_1sample(case):
    # Fitting one sample either works or says why, naming the number of samples.
    estimator = clone(case.estimator)
    y = None if case.y is None else case.y[:1]
    try:
        estimator.fit(case.X[:1], y)
    except ValueError as err:
        assert any(
            pattern in str(err)
            for pattern in ("1 sample", "n_samples = 1", "n_samples=1", "one sample")
        ), str(err)


def check_requires_y_none(case):
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        clone(case.estimator).fit(case.X, None)


def check_supervised_y_no_nan(case):
    for value in (np.nan, np.inf):
        with pytest.raises(ValueError):
            clone(case.estimator).fit(case.X, np.full_like(case.y, value))


def replayed_checks(case: Case) -> list:
    checks = [
        check_fit_score_takes_y,
        check_estimators_fit_returns_self,
        check_estimators_overwrite_params,
        check_dont_overwrite_parameters,
        check_fit_idempotent,
        check_estimators_pickle,
        check_n_features_in,
        check_n_features_in_after_fitting,
        check_fit_check_is_fitted,
        check_dict_unchanged,
        check_methods_subset_invariance,
        check_methods_sample_order_invariance,
        check_estimators_empty_data_messages,
        check_fit2d_1sample,
    ]
    if get_tags(case.estimator).target_tags.required:
        checks += [check_requires_y_none, check_supervised_y_no_nan]
    return checks


@pytest.mark.parametrize(
    "case_name, check",
    [(name, check) for name, case in CASES.items() for check in sklearn_checks(case)],
    ids=lambda value: check_name(value) if callable(value) else value,
)
def test_sklearn_check_on_structure_input(case_name, check):
    case = CASES[case_name]
    assert not get_tags(case.estimator).input_tags.two_d_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(case.name, case.estimator)


@pytest.mark.parametrize(
    "case_name, check",
    [(name, check) for name, case in CASES.items() for check in replayed_checks(case)],
    ids=lambda value: check_name(value) if callable(value) else value,
)
def test_replayed_sklearn_check(case_name, check):
    check(CASES[case_name])
