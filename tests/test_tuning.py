"""Tests for dos_estimators.tuning: tune(), PruningCallback, storages shared by processes.

The DOS regressor appears only in small tests on :func:`conftest.tiny_dataset`; searches
that run in several processes tune :class:`ToyRidge`, a closed-form ridge regression
whose ``fit`` can be slowed down or made to hang. The tests of shared studies run on
SQLite, on a journal file and on PostgreSQL; the last need a server, named by the
environment variable ``DOS_ESTIMATORS_TEST_POSTGRES`` (``.ci/run`` starts one), and skip
without it, except in CI (``CI`` set), where they fail.
"""

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from conftest import tiny_dataset
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.history import History

from dos_estimators import DOSTransformerRegressor
from dos_estimators.metrics import SCORERS
from dos_estimators.model_selection import LeaveOneCrystalSystemOut
from dos_estimators.tuning import PruningCallback, TuningResult, tune

TESTS_DIR = Path(__file__).resolve().parent
ALPHA = FloatDistribution(1e-3, 1e3, log=True)
HEARTBEAT = {"heartbeat_interval": 1, "grace_period": 2}


class ToyRidge(RegressorMixin, BaseEstimator):
    """Closed-form ridge regression; ``delay`` slows ``fit``, ``hang_file`` makes it hang.

    With ``hang_file`` set, ``fit`` creates that file and then sleeps for ten minutes, so a
    test can kill the worker in the middle of a trial.
    """

    def __init__(self, alpha=1.0, delay=0.0, hang_file=None):
        self.alpha = alpha
        self.delay = delay
        self.hang_file = hang_file

    def fit(self, X, y):
        if self.hang_file is not None:
            Path(self.hang_file).touch()
            time.sleep(600)
        time.sleep(self.delay)
        X = np.asarray(X, dtype=float)
        gram = X.T @ X + self.alpha * np.eye(X.shape[1])
        self.coef_ = np.linalg.solve(gram, X.T @ np.asarray(y, dtype=float))
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float) @ self.coef_


def toy_problem(n_samples=40, n_outputs=None, seed=0):
    """A linear problem with a little noise; ``n_outputs`` gives a target matrix."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    weights = np.array([1.0, 2.0, 0.0]) if n_outputs is None else rng.normal(size=(3, n_outputs))
    y = X @ weights + 0.1 * rng.normal(size=(n_samples,) + weights.shape[1:])
    return X, y


def tiny_dos(**overrides):
    params = dict(
        hidden=8,
        n_heads=2,
        n_gnn_layers=1,
        n_cross_layers=1,
        n_self_layers=1,
        max_epochs=3,
        batch_size=4,
        random_state=0,
    )
    return DOSTransformerRegressor(**{**params, **overrides})


@pytest.fixture(scope="module", autouse=True)
def quiet_optuna():
    previous_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(previous_verbosity)


def states(study):
    return [t.state for t in study.get_trials(deepcopy=False)]


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


# -- storages: continuing, several workers, killed workers ---------------------------------

POSTGRES_ENV = "DOS_ESTIMATORS_TEST_POSTGRES"
"""Environment variable with the URL of a PostgreSQL database for the tests of shared studies.

E.g. ``postgresql+psycopg2://postgres@localhost:54329/dos_estimators_test``; ``.ci/run`` starts
a throwaway server and sets it. Each test makes a study of its own, with a fresh name, in that
database, and deletes it afterwards.
"""

STORAGE_KINDS = ["sqlite", "journal", "postgresql"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def postgres_url() -> str:
    """The test database's URL; skips the test without one, but fails it in CI."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    reason = (
        f"needs a PostgreSQL server: set {POSTGRES_ENV} to a postgresql:// URL of a database "
        "the tests may create tables in (e.g. postgresql+psycopg2://postgres@localhost:54329/"
        "dos_estimators_test); .ci/run starts a server and sets it"
    )
    if in_ci():
        pytest.fail(f"{reason}. CI is set, and tests that need the server never skip in CI.")
    pytest.skip(reason)


class SharedStorage(SimpleNamespace):
    """Where a test's shared study lives: ``kind``, ``storage`` (as ``tune`` takes it) and
    ``study_name`` (fresh for each test, so that runs on a database server never collide)."""

    def optuna_storage(self):
        if self.kind == "journal":
            backend = optuna.storages.journal.JournalFileBackend(self.storage)
            return optuna.storages.JournalStorage(backend)
        return optuna.storages.RDBStorage(self.storage)

    def load_study(self):
        return optuna.load_study(study_name=self.study_name, storage=self.optuna_storage())


@pytest.fixture
def shared(request, tmp_path):
    """The storage named by the test's ``shared`` parameter, with a study name of its own."""
    kind = request.param
    storage = {
        "sqlite": lambda: f"sqlite:///{tmp_path / 'shared.db'}",
        "journal": lambda: str(tmp_path / "shared.log"),
        "postgresql": postgres_url,
    }[kind]()
    study_name = f"{request.node.originalname}-{uuid.uuid4().hex[:12]}"
    yield SharedStorage(kind=kind, storage=storage, study_name=study_name)
    if kind == "postgresql":
        # The database outlives the test: leave it as it was.
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=study_name, storage=storage)


def with_each_storage(kinds=STORAGE_KINDS):
    return pytest.mark.parametrize("shared", kinds, indirect=True)


@with_each_storage()
def test_rerun_continues_the_study(shared):
    X, y = toy_problem()

    def run(n_trials, seed):
        return tune(
            ToyRidge(),
            {"alpha": ALPHA},
            X,
            y,
            cv=2,
            n_trials=n_trials,
            storage=shared.storage,
            study_name=shared.study_name,
            random_state=seed,
            refit=False,
        ).study_.trials

    first = run(3, seed=0)
    second = run(5, seed=1)
    assert len(first) == 3 and len(second) == 5
    assert [(t.params, t.value) for t in second[:3]] == [(t.params, t.value) for t in first]
    assert len(run(5, seed=2)) == 5  # the study has its five trials: nothing more to do
    if shared.kind == "journal":
        # Every trial beat a heartbeat into the journal while it ran.
        assert all("dos_estimators:heartbeat" in t.system_attrs for t in second)


WORKER = """
import json, os, sys, time
from pathlib import Path
job_file = Path(sys.argv[1])
sys.path.insert(0, sys.argv[2])
import optuna
from test_tuning import ALPHA, ToyRidge, toy_problem
from dos_estimators.tuning import tune

optuna.logging.set_verbosity(optuna.logging.WARNING)
job_file.with_suffix(".ready").touch()
while not job_file.exists():
    time.sleep(0.005)
job = json.loads(job_file.read_text())
X, y = toy_problem()
tune(ToyRidge(delay=job["delay"], hang_file=job["hang_file"]), {"alpha": ALPHA}, X, y, cv=2,
     n_trials=job["n_trials"], storage=job["storage"], study_name=job["study_name"],
     random_state=job["seed"], refit=False, heartbeat_interval=1, grace_period=2)
"""


class Worker:
    """A worker process, spawned early because its imports take seconds, waiting for a job."""

    def __init__(self, folder: Path, name: str):
        self.job_file = folder / f"{name}.json"
        self.log_file = folder / f"{name}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with open(self.log_file, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER, str(self.job_file), str(TESTS_DIR)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, *paths: Path, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths):
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log_file.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker created none of {paths} in {timeout} s")
            time.sleep(0.02)

    def start(self, shared, *, n_trials, seed, delay=0.0, hang_file=None):
        """Wait until the worker has imported everything, then hand it its job."""
        self.wait_for(self.job_file.with_suffix(".ready"))
        job = dict(storage=shared.storage, study_name=shared.study_name, n_trials=n_trials)
        job.update(seed=seed, delay=delay, hang_file=None if hang_file is None else str(hang_file))
        partial = self.job_file.with_suffix(".partial")
        partial.write_text(json.dumps(job))
        partial.rename(self.job_file)

    def finish(self, timeout: float = 120.0) -> None:
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, self.log_file.read_text()


@pytest.fixture(scope="module", autouse=True)
def workers(tmp_path_factory):
    """Worker processes, started when this module's tests begin, for the last tests.

    One ``("sharing", kind)`` and one ``("doomed", kind)`` per storage kind; none for
    PostgreSQL without a server to run its tests on.
    """
    folder = tmp_path_factory.mktemp("workers")
    kinds = [k for k in STORAGE_KINDS if k != "postgresql" or os.environ.get(POSTGRES_ENV)]
    started = {
        (role, kind): Worker(folder, f"{role}-{kind}")
        for kind in kinds
        for role in ("sharing", "doomed")
    }
    yield started
    for worker in started.values():
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def assert_numbered_once(trials):
    """Trial numbers are 0, 1, 2, ...: none repeated, none missing."""
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(numbers))), numbers


@with_each_storage()
def test_two_workers_share_one_study(shared, workers):
    # Two processes: a spawned worker and this one.
    n_trials = 8
    other = workers["sharing", shared.kind]
    # Both start on the new storage at the same moment.
    other.start(shared, n_trials=n_trials, seed=1, delay=0.15)
    X, y = toy_problem()
    tune(
        ToyRidge(delay=0.15),
        {"alpha": ALPHA},
        X,
        y,
        cv=2,
        n_trials=n_trials,
        storage=shared.storage,
        study_name=shared.study_name,
        random_state=0,
        refit=False,
        **HEARTBEAT,
    )
    other.finish()

    trials = shared.load_study().trials
    assert_numbered_once(trials)
    # Each worker stops once the study has 8; the other may be finishing one trial then.
    assert n_trials <= len(trials) <= n_trials + 1
    assert all(t.state == TrialState.COMPLETE for t in trials)
    pids = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials}
    assert pids == {os.getpid(), other.process.pid}


def heartbeat_age(shared: SharedStorage, trial_number: int) -> float | None:
    """Seconds since the last heartbeat of a trial, on the clock that judges it stale.

    ``None`` while the trial has no heartbeat yet. The age is measured the way the storage's
    heartbeat judges staleness, so a test that waits for it waits on the state a worker
    reads, not on this process's clock: for a database, the database's ``CURRENT_TIMESTAMP``
    minus the stored beat, as optuna's ``RDBStorage`` computes it (whole seconds in SQLite,
    microseconds in PostgreSQL); for a journal file, ``time.time()`` minus the beat that
    ``tune`` wrote into the trial's system attributes.
    """
    if shared.kind == "journal":
        storage = shared.optuna_storage()
        study_id = storage.get_study_id_from_name(shared.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        beat = storage.get_trial(trial_id).system_attrs.get("dos_estimators:heartbeat")
        return None if beat is None else time.time() - beat

    import sqlalchemy

    engine = sqlalchemy.create_engine(shared.storage)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sqlalchemy.text(
                    "SELECT h.heartbeat, CURRENT_TIMESTAMP FROM trial_heartbeats h "
                    "JOIN trials t ON t.trial_id = h.trial_id "
                    "JOIN studies s ON s.study_id = t.study_id "
                    "WHERE s.study_name = :study AND t.number = :number"
                ),
                {"study": shared.study_name, "number": trial_number},
            ).first()
    finally:
        engine.dispose()
    if row is None or row[0] is None:
        return None
    # SQLite returns text; PostgreSQL a naive beat and an aware now(), whose zone optuna drops
    # too (both are wall-clock times in the session's time zone).
    beat, now = (
        value if not isinstance(value, str) else datetime.fromisoformat(value) for value in row
    )
    return (now.replace(tzinfo=None) - beat.replace(tzinfo=None)).total_seconds()


def wait_until(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@with_each_storage()
def test_killed_worker_loses_only_its_trial(shared, tmp_path, workers):
    X, y = toy_problem()
    settings = dict(
        cv=2, storage=shared.storage, study_name=shared.study_name, refit=False, **HEARTBEAT
    )
    before = tune(ToyRidge(), {"alpha": ALPHA}, X, y, n_trials=2, random_state=0, **settings)
    done = [(t.number, t.params, t.value) for t in before.study_.trials]

    doomed = workers["doomed", shared.kind]
    hang_file = tmp_path / "hanging"
    doomed.start(shared, n_trials=4, seed=1, hang_file=hang_file)
    doomed.wait_for(hang_file)  # in the middle of its first trial
    # optuna's heartbeat thread records the first beat concurrently with the trial: a
    # trial killed before its first beat has none and could never be judged stale.
    wait_until(lambda: heartbeat_age(shared, 2) is not None, "the doomed trial's first heartbeat")
    os.kill(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait(timeout=30)
    study = shared.load_study()
    assert states(study) == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    lost = study.trials[2]

    # The next worker fails the trial once its last beat is older than the grace period.
    wait_until(
        lambda: heartbeat_age(shared, lost.number) > HEARTBEAT["grace_period"],
        "the killed trial's heartbeat to pass the grace period",
    )
    after = tune(ToyRidge(), {"alpha": ALPHA}, X, y, n_trials=4, random_state=2, **settings)
    trials = after.study_.trials
    assert_numbered_once(trials)
    # The completed trials are kept as they were; the killed one failed and ran again.
    assert [(t.number, t.params, t.value) for t in trials[:2]] == done
    complete, fail = TrialState.COMPLETE, TrialState.FAIL
    assert states(after.study_) == [complete, complete, fail, complete, complete]
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retried) == 1 and retried[0].params == lost.params
    assert retried[0].state == TrialState.COMPLETE
    assert len(after.study_.get_trials(states=(TrialState.COMPLETE,))) == 4


def test_journal_file_fails_and_retries_a_trial_whose_heartbeat_stopped(tmp_path):
    path = tmp_path / "journal.log"
    X, y = toy_problem()
    settings = dict(cv=2, storage=path, study_name="journal", refit=False, **HEARTBEAT)
    tune(ToyRidge(), {"alpha": ALPHA}, X, y, n_trials=1, random_state=0, **settings)

    # A worker that began trial 1 and died: its last heartbeat is long past.
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.load_study(study_name="journal", storage=storage)
    dead = study.ask({"alpha": ALPHA})
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("journal"), dead.number
    )
    storage.set_trial_system_attr(trial_id, "dos_estimators:heartbeat", time.time() - 100)
    # A running trial that has not beaten yet is left alone.
    quiet = study.ask({"alpha": ALPHA})

    result = tune(ToyRidge(), {"alpha": ALPHA}, X, y, n_trials=3, random_state=1, **settings)
    trials = result.study_.trials
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[quiet.number].state == TrialState.RUNNING
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].params == {"alpha": dead.params["alpha"]}
    assert retried[0].state == TrialState.COMPLETE


def test_journal_heartbeat_beats_while_the_trial_runs(tmp_path):
    X, y = toy_problem()
    # Two folds of 1.2 s each: the trial runs about 2.4 s and beats at 0, 1 and 2 s.
    result = tune(
        ToyRidge(delay=1.2),
        {"alpha": ALPHA},
        X,
        y,
        cv=2,
        n_trials=1,
        storage=tmp_path / "journal.log",
        study_name="beating",
        refit=False,
        **HEARTBEAT,
    )
    (trial,) = result.study_.trials
    last_beat = trial.system_attrs["dos_estimators:heartbeat"]
    assert last_beat - trial.datetime_start.timestamp() > 1.5
    assert last_beat <= trial.datetime_complete.timestamp()


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
