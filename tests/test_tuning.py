"""Tests for :func:`dos_estimators.tuning.tune` and its arguments, end to end.

What a search returns (:class:`~dos_estimators.tuning.TuningResult`), that trial values are
scikit-learn's cross-validation scores, the checks of the arguments, failed trials, and the
package's public names. Pruning is tested in ``test_tuning_pruning.py``, studies shared
through storages (several workers, killed workers, heartbeats) in ``test_tuning_storage.py``;
the helpers they share are in ``tuning_helpers.py``.
"""

import numpy as np
import optuna
import pytest
from conftest import tiny_dataset
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from tuning_helpers import ALPHA, ToyRidge, optuna_warnings_only, states, tiny_dos, toy_problem

import dos_estimators.tuning
from dos_estimators import DOSTransformerRegressor
from dos_estimators.metrics import SCORERS
from dos_estimators.model_selection import LeaveOneCrystalSystemOut
from dos_estimators.tuning import PruningCallback, TuningResult, tune


@pytest.fixture(scope="module", autouse=True)
def quiet_optuna():
    with optuna_warnings_only():
        yield


# -- tune() with the DOS regressor -------------------------------------------------------


def test_tune_dos_regressor_three_trials():
    X, y = tiny_dataset()
    estimator = tiny_dos()
    result = tune(
        estimator,
        {
            "lr": FloatDistribution(1e-4, 1e-2, log=True),
            "hidden": CategoricalDistribution([8, 16]),
        },
        X,
        y,
        cv=2,
        scoring="dos_neg_mse",
        n_trials=3,
        random_state=0,
    )
    assert isinstance(result, TuningResult)
    trials = result.study_.trials
    assert states(result.study_) == [TrialState.COMPLETE] * 3
    for trial in trials:
        assert len(trial.user_attrs["fold_scores"]) == 2
        assert trial.value == pytest.approx(np.mean(trial.user_attrs["fold_scores"]))
        assert trial.value < 0
    assert result.best_score_ == max(t.value for t in trials)
    assert result.best_params_ == result.best_trial_.params
    assert set(result.best_params_) == {"lr", "hidden"}
    best = result.best_estimator_
    assert isinstance(best, DOSTransformerRegressor) and hasattr(best, "net_")
    assert best.get_params()["lr"] == result.best_params_["lr"]
    assert best.callbacks is None and estimator.callbacks is None
    assert result.predict(X).shape == y.shape
    assert result.score(X, y) == pytest.approx(-np.mean((result.predict(X) - y) ** 2))
    assert "complete" in repr(result)


# -- scoring, cv and arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    "scoring", [None, "dos_neg_mse", "neg_mean_absolute_error", SCORERS["dos_r2_per_crystal"]]
)
def test_trial_values_are_sklearn_cross_validation_scores(scoring):
    X, y = toy_problem(n_outputs=4)
    cv = KFold(3, shuffle=True, random_state=0)
    result = tune(Ridge(), {"alpha": ALPHA}, X, y, cv=cv, scoring=scoring, n_trials=3)
    # scikit-learn takes the package's scorers as objects, not by name.
    sklearn_scoring = SCORERS.get(scoring, scoring) if isinstance(scoring, str) else scoring
    for trial in result.study_.trials:
        expected = cross_val_score(Ridge(**trial.params), X, y, cv=cv, scoring=sklearn_scoring)
        assert trial.value == pytest.approx(expected.mean())
        assert trial.user_attrs["fold_scores"] == pytest.approx(expected)


def test_package_splitter_and_nested_parameter_names():
    X, y = tiny_dataset()
    model = make_pipeline(
        FunctionTransformer(lambda structures: [[s.volume / len(s)] for s in structures]),
        Ridge(),
    )
    result = tune(
        model,
        {"ridge__alpha": ALPHA},
        X,
        y,
        cv=LeaveOneCrystalSystemOut(),
        scoring="dos_neg_mse",
        n_trials=2,
        refit=False,
    )
    n_systems = LeaveOneCrystalSystemOut().get_n_splits(X)
    assert n_systems == 5
    assert all(len(t.user_attrs["fold_scores"]) == n_systems for t in result.study_.trials)
    assert result.best_estimator_ is None
    with pytest.raises(NotFittedError, match="refit=False"):
        result.predict(X)


@pytest.mark.parametrize(
    ("distributions", "kwargs", "match"),
    [
        ({"alfa": ALPHA}, {}, r"'alfa', which ToyRidge cannot set"),
        ({"alpha": [0.1, 1.0]}, {}, r"param_distributions\['alpha'\] is not an optuna"),
        ({}, {}, "non-empty mapping"),
        ({"alpha": ALPHA}, {"storage": "sqlite:///unused.db"}, "needs a study_name"),
        ({"alpha": ALPHA}, {"storage": 3, "study_name": "s"}, "storage must be"),
        ({"alpha": ALPHA}, {"n_trials": 0}, "n_trials"),
    ],
)
def test_invalid_arguments(distributions, kwargs, match):
    X, y = toy_problem()
    with pytest.raises(ValueError, match=match):
        tune(ToyRidge(), distributions, X, y, **kwargs)


def test_a_minimising_study_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="losses", direction="minimize")
    X, y = toy_problem()
    with pytest.raises(ValueError, match="'losses' .* minimises"):
        tune(ToyRidge(), {"alpha": ALPHA}, X, y, storage=url, study_name="losses")


def scorer_failing_for_large_alpha(failure):
    def scorer(estimator, X, y):
        if estimator.alpha > 1:
            if failure == "nan":
                return np.nan
            raise ArithmeticError(f"alpha={estimator.alpha} is too large")
        return estimator.score(X, y)

    return scorer


@pytest.mark.parametrize("failure", ["nan", "raise"])
def test_failed_trials_do_not_count_and_the_search_goes_on(failure):
    X, y = toy_problem()
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="failing", direction="maximize")
    for alpha in (10.0, 0.1, 0.2):
        study.enqueue_trial({"alpha": alpha})
    settings = dict(cv=2, storage=storage, study_name="failing", catch=(ArithmeticError,))
    scoring = scorer_failing_for_large_alpha(failure)
    result = tune(ToyRidge(), {"alpha": ALPHA}, X, y, scoring=scoring, n_trials=2, **settings)
    assert states(study) == [TrialState.FAIL, TrialState.COMPLETE, TrialState.WAITING]
    assert result.best_params_ == {"alpha": 0.1}
    # The failed trial does not count: a re-run adds the missing one.
    tune(ToyRidge(), {"alpha": ALPHA}, X, y, scoring=scoring, n_trials=2, **settings)
    assert states(study) == [TrialState.FAIL] + [TrialState.COMPLETE] * 2


def test_exceptions_stop_the_search_unless_caught():
    X, y = toy_problem()
    with pytest.raises(ArithmeticError, match="too large"):
        tune(
            ToyRidge(),
            {"alpha": FloatDistribution(2.0, 3.0)},
            X,
            y,
            scoring=scorer_failing_for_large_alpha("raise"),
        )


# -- the package ------------------------------------------------------------------------


def test_public_names_are_those_of_the_package():
    assert sorted(dos_estimators.tuning.__all__) == ["PruningCallback", "TuningResult", "tune"]
    assert (dos_estimators.tuning.tune, dos_estimators.tuning.TuningResult) == (tune, TuningResult)
    assert dos_estimators.tuning.PruningCallback is PruningCallback
    assert dos_estimators.tuning.PRUNING_CALLBACK_NAME == "optuna_pruning"


# -- optuna_integration -----------------------------------------------------------------------


def test_optuna_search_cv_with_the_dos_regressor():
    optuna_integration = pytest.importorskip("optuna_integration")
    X, y = tiny_dataset()
    search = optuna_integration.OptunaSearchCV(
        tiny_dos(),
        {"lr": FloatDistribution(1e-4, 1e-2, log=True)},
        cv=2,
        n_trials=2,
        scoring=SCORERS["dos_neg_mse"],  # a scikit-learn-style search takes the object
        random_state=0,
    )
    search.fit(X, y)
    assert len(search.trials_) == 2
    assert isinstance(search.best_estimator_, DOSTransformerRegressor)
    assert search.predict(X).shape == y.shape
    assert search.best_score_ < 0
