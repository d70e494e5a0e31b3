"""Tests for pruning in :mod:`dos_estimators.tuning`: per epoch and per fold.

:class:`~dos_estimators.tuning.PruningCallback` reports each epoch of a skorch training
to the trial; :func:`~dos_estimators.tuning.tune` adds it to estimators that take
``callbacks``, and reports the mean score after each fold for any other estimator.
"""

import pickle
from types import SimpleNamespace

import optuna
import pytest
from conftest import tiny_dataset
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from skorch.history import History
from tuning_helpers import ALPHA, ToyRidge, optuna_warnings_only, states, tiny_dos, toy_problem

from dos_estimators.tuning import PruningCallback, tune


@pytest.fixture(scope="module", autouse=True)
def quiet_optuna():
    with optuna_warnings_only():
        yield


# -- tune() with a pruner -----------------------------------------------------------------


def test_epoch_pruning_stops_dos_training():
    X, y = tiny_dataset()
    storage = optuna.storages.InMemoryStorage()
    # Every reported value is a negated loss, below 0: pruned at the first step past warm-up.
    pruner = optuna.pruners.ThresholdPruner(lower=0.0, n_warmup_steps=1)
    with pytest.raises(ValueError, match=r"No trial .* completed.*'pruned': 2"):
        tune(
            tiny_dos(max_epochs=3),
            {"lr": FloatDistribution(1e-4, 1e-2, log=True)},
            X,
            y,
            cv=2,
            n_trials=2,
            storage=storage,
            study_name="pruned",
            pruner=pruner,
        )
    study = optuna.load_study(study_name="pruned", storage=storage)
    assert states(study) == [TrialState.PRUNED] * 2
    for trial in study.trials:
        # Epochs 1 and 2 of the first fold; epoch 3 and the second fold never ran.
        assert sorted(trial.intermediate_values) == [0, 1]
        assert all(value < 0 for value in trial.intermediate_values.values())


def test_pruning_stops_bad_trials_between_folds_of_plain_estimators():
    X, y = toy_problem()
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="folds", direction="maximize")
    for alpha in (1e-3, 1e3, 1e-3):
        study.enqueue_trial({"alpha": alpha})
    tune(
        ToyRidge(),
        {"alpha": ALPHA},
        X,
        y,
        cv=4,
        n_trials=3,
        storage=storage,
        study_name="folds",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    trials = study.get_trials()
    assert states(study) == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert sorted(trials[0].intermediate_values) == [0, 1, 2, 3]
    assert sorted(trials[1].intermediate_values) == [0]
    assert len(trials[1].user_attrs["fold_scores"]) == 1


def test_epoch_pruning_needs_a_validation_fraction():
    X, y = tiny_dataset()
    pruner = optuna.pruners.MedianPruner()
    with pytest.raises(ValueError, match=r"validation_fraction=0; give it a validation"):
        tune(
            tiny_dos(validation_fraction=0),
            {"lr": FloatDistribution(1e-4, 1e-2)},
            X,
            y,
            cv=2,
            n_trials=1,
            pruner=pruner,
        )


# -- PruningCallback ----------------------------------------------------------------------


def train(callback, net, losses):
    """Drive ``callback`` through one training of ``len(losses)`` epochs."""
    callback.on_train_begin(net)
    for loss in losses:
        net.history.new_epoch()
        net.history.record("valid_loss", loss)
        callback.on_epoch_end(net)


@pytest.mark.parametrize(
    ("direction", "lower_is_better", "sign"),
    [("maximize", True, -1), ("minimize", True, 1), ("maximize", False, 1)],
)
def test_pruning_callback_steps_across_trainings(direction, lower_is_better, sign):
    study = optuna.create_study(direction=direction)
    trial = study.ask()
    callback = PruningCallback(trial, lower_is_better=lower_is_better)
    # First fold stopped early after 2 of 3 epochs; the second fold is a new net.
    train(callback, SimpleNamespace(history=History(), max_epochs=3), [0.5, 0.4])
    train(callback, SimpleNamespace(history=History(), max_epochs=3), [0.3, 0.2, 0.1])
    reported = study.trials[0].intermediate_values
    expected = {0: 0.5, 1: 0.4, 3: 0.3, 4: 0.2, 5: 0.1}
    assert reported == pytest.approx({step: sign * v for step, v in expected.items()})
    assert callback.n_trainings_ == 2


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_pruning_callback_raises_trial_pruned():
    trial = optuna.create_study(direction="maximize", pruner=AlwaysPrune()).ask()
    net = SimpleNamespace(history=History(), max_epochs=4)
    with pytest.raises(optuna.TrialPruned, match=r"step 0 \(training 1, epoch 1\)"):
        train(PruningCallback(trial), net, [0.5, 0.4])
    assert len(net.history) == 1


def test_pruning_callback_needs_the_monitored_key():
    trial = optuna.create_study(direction="maximize").ask()
    callback = PruningCallback(trial)
    net = SimpleNamespace(history=History(), max_epochs=2)
    callback.on_train_begin(net)
    net.history.new_epoch()
    net.history.record("train_loss", 0.3)
    with pytest.raises(ValueError, match=r"'valid_loss'.*'train_loss'"):
        callback.on_epoch_end(net)


def test_pruning_callback_pickles_without_its_trial():
    trial = optuna.create_study(direction="maximize").ask()
    copy = pickle.loads(pickle.dumps(PruningCallback(trial, monitor="train_loss")))
    assert copy.trial is None and copy.monitor == "train_loss"
