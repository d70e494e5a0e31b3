"""Tests for dos_estimators.metrics: paper metrics and scikit-learn scorers."""

import numpy as np
import pytest
import sklearn.metrics
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from dos_estimators import metrics
from dos_estimators.metrics import (
    SCORERS,
    dos_neg_mse_scorer,
    dos_report,
    get_scorer,
    mae,
    mse,
    r2_per_crystal,
    r2_pooled,
    rmse,
    rmse_per_crystal,
)

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


def test_r2_pooled():
    assert r2_pooled(Y_TRUE, Y_PRED) == pytest.approx(1 - 4 / 5)
    assert r2_pooled(Y_TRUE, Y_TRUE) == 1.0
    # Predicting the global mean everywhere scores 0.
    assert r2_pooled(Y_TRUE, np.full_like(Y_TRUE, 1.5)) == pytest.approx(0.0)


def test_r2_per_crystal():
    # Crystal 1 predicted exactly: R² 1. Crystal 2, true [2, 3] (mean 2.5, total sum of
    # squares 0.5), predicted [2, 1]: residual sum of squares 4, R² 1 - 4 / 0.5 = -7.
    # Mean over crystals (1 + -7) / 2 = -3; pooled over all four entries it is 0.2.
    assert r2_per_crystal(Y_TRUE, Y_PRED) == pytest.approx(-3.0)
    assert r2_per_crystal(Y_TRUE, Y_TRUE) == 1.0


def test_r2_per_crystal_and_pooled_differ_by_hand():
    # Two crystals on three energies.
    # Crystal 1: true [0, 1, 2], mean 1, total sum of squares 1 + 0 + 1 = 2;
    #   predicted [0, 1, 1], residuals [0, 0, 1], sum of squares 1: R² = 1 - 1/2 = 0.5.
    # Crystal 2: true [4, 4, 10], mean 6, total sum of squares 4 + 4 + 16 = 24;
    #   predicted [4, 4, 4], residuals [0, 0, 6], sum of squares 36: R² = 1 - 36/24 = -0.5.
    # Per crystal (the paper): (0.5 + -0.5) / 2 = 0.
    # Pooled: true [0, 1, 2, 4, 4, 10], mean 21/6 = 3.5, total sum of squares
    #   12.25 + 6.25 + 2.25 + 0.25 + 0.25 + 42.25 = 63.5; residual 1 + 36 = 37:
    #   R² = 1 - 37/63.5 = 26.5/63.5 = 53/127 ≈ 0.417.
    y_true = np.array([[0.0, 1.0, 2.0], [4.0, 4.0, 10.0]])
    y_pred = np.array([[0.0, 1.0, 1.0], [4.0, 4.0, 4.0]])
    assert r2_per_crystal(y_true, y_pred) == pytest.approx(0.0, abs=1e-12)
    assert r2_pooled(y_true, y_pred) == pytest.approx(53 / 127, rel=1e-12)


def test_r2_per_crystal_equals_sklearn_row_by_row():
    rng = np.random.default_rng(0)
    y_true = rng.random((20, 51))
    y_pred = y_true + 0.1 * rng.standard_normal((20, 51))
    expected = np.mean([r2_score(t, p) for t, p in zip(y_true, y_pred, strict=True)])
    assert r2_per_crystal(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


def test_r2_per_crystal_constant_true_row():
    # A constant true spectrum has no variance: scikit-learn's force_finite gives 1.0
    # when it is predicted exactly and 0.0 otherwise (not NaN or -inf).
    y_true = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    exact_second = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    assert r2_per_crystal(y_true, exact_second) == 1.0
    wrong_first = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    assert r2_per_crystal(y_true, wrong_first) == pytest.approx(0.5)


def test_r2_per_crystal_needs_two_energies():
    with pytest.raises(ValueError, match="at least 2 energies"):
        r2_per_crystal([[1.0], [2.0]], [[1.0], [2.0]])


@pytest.mark.parametrize("metric", [r2_per_crystal, rmse_per_crystal])
def test_per_crystal_metrics_need_2d(metric):
    with pytest.raises(ValueError, match="must be 2-D"):
        metric(np.zeros(4), np.zeros(4))


def test_rmse_per_crystal_differs_from_pooled_rmse():
    # Crystal 1: errors [3, 3], MSE 9, RMSE 3. Crystal 2: errors [0, 0], RMSE 0.
    # Per crystal (the paper): (3 + 0) / 2 = 1.5. Pooled: sqrt((9 + 9 + 0 + 0) / 4) = sqrt(4.5).
    y_true = np.zeros((2, 2))
    y_pred = np.array([[3.0, 3.0], [0.0, 0.0]])
    assert rmse_per_crystal(y_true, y_pred) == pytest.approx(1.5)
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(4.5))


def test_rmse_per_crystal_equal_errors_match_pooled():
    # The same error on every row: per-crystal and pooled RMSE agree.
    y_true = np.zeros((3, 4))
    y_pred = np.full((3, 4), 2.0)
    assert rmse_per_crystal(y_true, y_pred) == pytest.approx(2.0)
    assert rmse(y_true, y_pred) == pytest.approx(2.0)


def test_metrics_return_python_floats():
    for metric in (mse, mae, rmse, rmse_per_crystal, r2_pooled, r2_per_crystal):
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


def test_r2_pooled_equals_sklearn_on_flattened_arrays():
    rng = np.random.default_rng(0)
    y_true = rng.random((20, 51))
    y_pred = y_true + 0.1 * rng.standard_normal((20, 51))
    expected = r2_score(y_true.ravel(), y_pred.ravel())
    assert r2_pooled(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


def test_r2_pooled_is_not_the_per_output_average():
    # Columns with different means: flattened R^2 differs from sklearn's uniform average.
    y_true = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    y_pred = np.array([[0.5, 10.0], [1.0, 11.5], [2.0, 12.0]])
    flat = r2_score(y_true.ravel(), y_pred.ravel())
    averaged = r2_score(y_true, y_pred)
    assert not np.isclose(flat, averaged)
    assert r2_pooled(y_true, y_pred) == pytest.approx(flat)


def test_dos_report():
    report = dos_report(Y_TRUE, Y_PRED)
    assert set(report) == {
        "mse",
        "mse_x10",
        "mae",
        "rmse",
        "rmse_per_crystal",
        "r2_per_crystal",
        "r2_pooled",
    }
    assert report["mse"] == pytest.approx(1.0)
    assert report["mse_x10"] == pytest.approx(10.0)
    assert report["mae"] == pytest.approx(0.5)
    assert report["rmse"] == pytest.approx(1.0)
    # Row RMSEs 0 and sqrt(4 / 2) = sqrt(2); R² per crystal 1 and -7 (see test_r2_per_crystal).
    assert report["rmse_per_crystal"] == pytest.approx(np.sqrt(2) / 2)
    assert report["r2_per_crystal"] == pytest.approx(-3.0)
    assert report["r2_pooled"] == pytest.approx(0.2)
    assert all(type(value) is float for value in report.values())


def test_dos_report_docstring_example():
    report = dos_report([[0.0, 1.0]], [[0.0, 0.5]])
    assert report["mse"] == pytest.approx(0.125)
    assert report["mse_x10"] == pytest.approx(1.25)
    assert report["mae"] == pytest.approx(0.25)
    assert report["rmse"] == pytest.approx(np.sqrt(0.125))


@pytest.mark.parametrize(
    "metric", [mse, mae, rmse, rmse_per_crystal, r2_pooled, r2_per_crystal, dos_report]
)
def test_shape_mismatch_raises(metric):
    with pytest.raises(ValueError, match=r"different shapes.*\(2, 2\).*\(2, 3\)"):
        metric(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="different shapes"):
        metric(np.zeros((4,)), np.zeros((2, 2)))


@pytest.mark.parametrize("metric", [mse, mae, rmse, rmse_per_crystal, r2_pooled, r2_per_crystal])
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
        ("dos_neg_rmse_per_crystal", rmse_per_crystal, -1),
        ("dos_r2_pooled", r2_pooled, 1),
        ("dos_r2_per_crystal", r2_per_crystal, 1),
    ],
)
def test_scorers_in_cross_val_score(regression_data, name, metric, sign):
    X, Y = regression_data
    cv = KFold(n_splits=4, shuffle=True, random_state=0)
    scores = cross_val_score(Ridge(alpha=1.0), X, Y, scoring=SCORERS[name], cv=cv)
    expected = _expected_cv_scores(Ridge(alpha=1.0), X, Y, cv, metric, sign)
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    if sign < 0:
        assert (scores < 0).all()


def test_scorer_with_kneighbors(regression_data):
    X, Y = regression_data
    cv = KFold(n_splits=3)
    model = KNeighborsRegressor(n_neighbors=3)
    scores = cross_val_score(model, X, Y, scoring=dos_neg_mse_scorer, cv=cv)
    np.testing.assert_allclose(scores, _expected_cv_scores(model, X, Y, cv, mse, -1), rtol=1e-10)


def test_scorer_names():
    assert set(SCORERS) == {
        "dos_neg_mse",
        "dos_neg_mae",
        "dos_neg_rmse",
        "dos_neg_rmse_per_crystal",
        "dos_r2_pooled",
        "dos_r2_per_crystal",
    }


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_get_scorer(name):
    scorer = get_scorer(name)
    assert scorer is SCORERS[name] is getattr(metrics, f"{name}_scorer")
    assert f"{name}_scorer" in metrics.__all__
    # A scorer object passes through both lookups unchanged.
    assert get_scorer(scorer) is scorer
    assert sklearn.metrics.get_scorer(scorer) is scorer


def test_scikit_learn_is_not_patched():
    # The names belong to this package's functions; scikit-learn's registry is left alone.
    assert not set(SCORERS) & set(sklearn.metrics.get_scorer_names())
    with pytest.raises(ValueError):
        sklearn.metrics.get_scorer("dos_neg_mse")
    with pytest.raises(TypeError):
        SCORERS["dos_mine"] = dos_neg_mse_scorer  # read-only


def test_get_scorer_values(regression_data):
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    prediction = model.predict(X)
    assert get_scorer("dos_neg_mse")(model, X, Y) == pytest.approx(-mse(Y, prediction))
    assert get_scorer("dos_r2_pooled")(model, X, Y) == pytest.approx(r2_pooled(Y, prediction))
    assert get_scorer("dos_r2_per_crystal")(model, X, Y) == pytest.approx(
        r2_per_crystal(Y, prediction)
    )
    assert get_scorer("dos_neg_rmse_per_crystal")(model, X, Y) == pytest.approx(
        -rmse_per_crystal(Y, prediction)
    )
    # The two R² conventions give different numbers on the same predictions.
    assert not np.isclose(r2_pooled(Y, prediction), r2_per_crystal(Y, prediction))


def test_get_scorer_falls_back_to_sklearn(regression_data):
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    scorer = get_scorer("neg_mean_absolute_error")
    assert scorer(model, X, Y) == pytest.approx(-np.mean(np.abs(Y - model.predict(X))))
    with pytest.raises(ValueError):
        get_scorer("no_such_scorer")


def test_spread_error_correlation_ranks_crystals():
    from dos_estimators.metrics import spread_error_correlation

    rng = np.random.default_rng(0)
    y_true = rng.random((30, 11))
    noise = rng.random(30)
    y_pred = y_true + noise[:, None]
    assert spread_error_correlation(y_true, y_pred, np.repeat(noise[:, None], 11, 1)) == 1.0
    reverse = np.repeat(-noise[:, None], 11, 1) + 2
    assert spread_error_correlation(y_true, y_pred, reverse) == -1.0
    assert np.isnan(spread_error_correlation(y_true, y_pred, np.ones((30, 11))))
    with pytest.raises(ValueError, match="at least 2 crystals"):
        spread_error_correlation(y_true[:1], y_pred[:1], y_true[:1])
    with pytest.raises(ValueError, match="y_std has shape"):
        spread_error_correlation(y_true, y_pred, y_true[:, :5])
    with pytest.raises(ValueError, match="non-negative"):
        spread_error_correlation(y_true, y_pred, -y_true)
