"""Tests for the studies of :func:`dos_estimators.tuning.tune` shared through a storage.

A re-run continues its study; two worker processes share one; a worker killed in the
middle of a trial loses only that trial, failed through the heartbeat and run again.
Searches that run in several processes tune ``ToyRidge`` (``tuning_helpers.py``), whose
``fit`` can be slowed down or made to hang. The tests run on SQLite, on a journal file and
on PostgreSQL; the last need a server, named by the environment variable
``DOS_ESTIMATORS_TEST_POSTGRES`` (``.ci/run`` starts one), and skip without it, except in
CI (``CI`` set), where they fail.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState
from tuning_helpers import ALPHA, HEARTBEAT, ToyRidge, optuna_warnings_only, states, toy_problem

from dos_estimators.tuning import tune

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def quiet_optuna():
    with optuna_warnings_only():
        yield


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
from tuning_helpers import ALPHA, ToyRidge, toy_problem
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


@pytest.mark.slow
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
