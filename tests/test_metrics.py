"""Tests for dos_estimators.metrics: paper metrics and scikit-learn scorers."""

import numpy as np
import pytest
import sklearn.metrics
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from dos_estimators.metrics import SCORERS, dos_report, get_scorer, mae, mse, r2, rmse

# Errors: [[0, 0], [0, -2]] -> squared 4 over 4 entries, absolute 2 over 4 entries.
# y_true flattened is [0, 1, 2, 3]: mean 1.5, total sum of squares 5, residual 4.
Y_TRUE = np.array([[0.0, 1.0], [2.0, 3.0]])
Y_PRED = np.array([[0.0, 1.0], [2.0, 1.0]])


def test_mse():
    assert mse(Y_TRUE, Y_PRED) == pytest.approx(1.0)
    assert mse([[0.0, 1.0]], [[0.0, 0.5]]) == pytest.approx(0.125)


def test_mae():
    assert mae(Y_TRUE, Y_PRED) == pytest.approx(0.5)
    assert mae([[0.0, 1.0]], [[0.0, 0.5]]) == pytest.approx(0.25)


def test_rmse():
    assert rmse(Y_TRUE, Y_PRED) == pytest.approx(1.0)
    assert rmse([[0.0, 1.0]], [[0.0, 0.5]]) == pytest.approx(np.sqrt(0.125))


def test_r2():
    assert r2(Y_TRUE, Y_PRED) == pytest.approx(1 - 4 / 5)
    assert r2(Y_TRUE, Y_TRUE) == 1.0
    # Predicting the global mean everywhere scores 0.
    assert r2(Y_TRUE, np.full_like(Y_TRUE, 1.5)) == pytest.approx(0.0)


def test_metrics_return_python_floats():
    for metric in (mse, mae, rmse, r2):
        assert type(metric(Y_TRUE, Y_PRED)) is float


def test_metrics_accept_lists():
    assert mse(Y_TRUE.tolist(), Y_PRED.tolist()) == pytest.approx(1.0)


def test_errors_are_means_over_every_entry():
    # Uneven per-sample errors: the mean is over all 6 entries, not of per-sample means' roots.
    y_true = np.zeros((2, 3))
    y_pred = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert mse(y_true, y_pred) == pytest.approx(9 / 6)
    assert mae(y_true, y_pred) == pytest.approx(3 / 6)
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(9 / 6))


def test_r2_equals_sklearn_on_flattened_arrays():
    rng = np.random.default_rng(0)
    y_true = rng.random((20, 51))
    y_pred = y_true + 0.1 * rng.standard_normal((20, 51))
    expected = r2_score(y_true.ravel(), y_pred.ravel())
    assert r2(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


def test_r2_is_not_the_per_output_average():
    # Columns with different means: flattened R^2 differs from sklearn's uniform average.
    y_true = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    y_pred = np.array([[0.5, 10.0], [1.0, 11.5], [2.0, 12.0]])
    flat = r2_score(y_true.ravel(), y_pred.ravel())
    averaged = r2_score(y_true, y_pred)
    assert not np.isclose(flat, averaged)
    assert r2(y_true, y_pred) == pytest.approx(flat)


def test_dos_report():
    report = dos_report(Y_TRUE, Y_PRED)
    assert set(report) == {"mse", "mse_x10", "mae", "rmse", "r2"}
    assert report["mse"] == pytest.approx(1.0)
    assert report["mse_x10"] == pytest.approx(10.0)
    assert report["mae"] == pytest.approx(0.5)
    assert report["rmse"] == pytest.approx(1.0)
    assert report["r2"] == pytest.approx(0.2)


def test_dos_report_docstring_example():
    report = dos_report([[0.0, 1.0]], [[0.0, 0.5]])
    assert report["mse"] == pytest.approx(0.125)
    assert report["mse_x10"] == pytest.approx(1.25)
    assert report["mae"] == pytest.approx(0.25)
    assert report["rmse"] == pytest.approx(np.sqrt(0.125))


@pytest.mark.parametrize("metric", [mse, mae, rmse, r2, dos_report])
def test_shape_mismatch_raises(metric):
    with pytest.raises(ValueError, match=r"different shapes.*\(2, 2\).*\(2, 3\)"):
        metric(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="different shapes"):
        metric(np.zeros((4,)), np.zeros((2, 2)))


@pytest.mark.parametrize("metric", [mse, mae, rmse, r2])
def test_empty_raises(metric):
    with pytest.raises(ValueError, match="empty"):
        metric(np.zeros((0, 3)), np.zeros((0, 3)))


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((40, 5))
    Y = X @ rng.standard_normal((5, 8)) + 0.3 * rng.standard_normal((40, 8))
    return X, Y


def _expected_cv_scores(model, X, Y, cv, metric, sign):
    expected = []
    for train, test in cv.split(X):
        fitted = model.fit(X[train], Y[train])
        expected.append(sign * metric(Y[test], fitted.predict(X[test])))
    return expected


@pytest.mark.parametrize(
    ("name", "metric", "sign"),
    [
        ("dos_neg_mse", mse, -1),
        ("dos_neg_mae", mae, -1),
        ("dos_neg_rmse", rmse, -1),
        ("dos_r2", r2, 1),
    ],
)
def test_scorer_names_in_cross_val_score(regression_data, name, metric, sign):
    X, Y = regression_data
    cv = KFold(n_splits=4, shuffle=True, random_state=0)
    scores = cross_val_score(Ridge(alpha=1.0), X, Y, scoring=name, cv=cv)
    expected = _expected_cv_scores(Ridge(alpha=1.0), X, Y, cv, metric, sign)
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    if sign < 0:
        assert (scores < 0).all()


def test_scorer_name_with_kneighbors(regression_data):
    X, Y = regression_data
    cv = KFold(n_splits=3)
    model = KNeighborsRegressor(n_neighbors=3)
    scores = cross_val_score(model, X, Y, scoring="dos_neg_mse", cv=cv)
    np.testing.assert_allclose(scores, _expected_cv_scores(model, X, Y, cv, mse, -1), rtol=1e-10)


@pytest.mark.parametrize("name", ["dos_neg_mse", "dos_neg_mae", "dos_neg_rmse", "dos_r2"])
def test_get_scorer(name, regression_data):
    scorer = get_scorer(name)
    assert scorer is SCORERS[name]
    # scikit-learn's own lookup knows the name as well.
    sk_scorer = sklearn.metrics.get_scorer(name)
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    assert sk_scorer(model, X, Y) == pytest.approx(scorer(model, X, Y))


def test_get_scorer_values(regression_data):
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    prediction = model.predict(X)
    assert get_scorer("dos_neg_mse")(model, X, Y) == pytest.approx(-mse(Y, prediction))
    assert get_scorer("dos_r2")(model, X, Y) == pytest.approx(r2(Y, prediction))


def test_get_scorer_falls_back_to_sklearn(regression_data):
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    scorer = get_scorer("neg_mean_absolute_error")
    assert scorer(model, X, Y) == pytest.approx(-np.mean(np.abs(Y - model.predict(X))))
    with pytest.raises(ValueError):
        get_scorer("no_such_scorer")
