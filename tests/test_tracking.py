"""skorch's TensorBoard callback through the estimators' ``callbacks=`` (docs/tracking.md).

Every test writes event files under ``tmp_path`` and reads them back with TensorBoard's
``EventAccumulator``; nothing touches the network. ``TensorBoardPerNet`` is executed from
its code block in docs/tracking.md, so that the documented recipe is the tested one.
"""

from __future__ import annotations

import pickle
import re
import sys
import types
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_dataset, tiny_transformer
from optuna.distributions import FloatDistribution
from sklearn.base import clone

pytest.importorskip("tensorboard")

from skorch.callbacks import TensorBoard  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from dos_estimators import load_model  # noqa: E402
from dos_estimators.tuning import tune  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tracking.md"
LOSSES = ("train_loss", "valid_loss")
EPOCHS = 3


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


@pytest.fixture
def TensorBoardPerNet(monkeypatch):
    """``TensorBoardPerNet``, executed from its code block in docs/tracking.md.

    The block runs as a module of its own, registered for the test, as a user's module
    would be: pickle finds classes by module and name.
    """
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    (code,) = [block for block in blocks if "class TensorBoardPerNet" in block]
    module = types.ModuleType("tracking_recipe")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, str(DOCS), "exec"), module.__dict__)
    return module.TensorBoardPerNet


def _scalars(path) -> dict:
    """``{tag: [(step, value), ...]}`` of the event file or folder ``path``."""
    events = EventAccumulator(str(path)).Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def _logged(net, keys=LOSSES) -> dict:
    """What skorch's TensorBoard should have written for ``net``: its history's losses."""
    return {
        f"Loss/{key}": [(int(epoch), loss) for epoch, loss in net.history[:, ("epoch", key)]]
        for key in keys
    }


def _assert_same(scalars, expected):
    for tag, points in expected.items():
        assert [step for step, _ in scalars[tag]] == [step for step, _ in points], tag
        # TensorBoard stores 32-bit floats; the history holds the losses as Python floats.
        np.testing.assert_allclose(
            [value for _, value in scalars[tag]], [value for _, value in points], rtol=1e-6
        )


def _event_files(folder: Path) -> list[Path]:
    """The event files of ``folder``, in the order the writer created them."""
    files = folder.glob("events.out.tfevents.*")
    # The name ends with a counter that grows with every file the process opens.
    return sorted(files, key=lambda path: int(path.name.rsplit(".", 1)[1]))


def _runs(folder: Path) -> list[Path]:
    """The sub-folders (runs) of ``folder``: their names are start times, so sorted in order."""
    return sorted(path for path in folder.iterdir() if path.is_dir())


def _start(run: Path) -> datetime:
    return datetime.strptime(run.name, "%Y%m%d-%H%M%S-%f")


def test_tensorboard_logs_the_losses_of_every_epoch(data, tmp_path):
    X, y = data
    writer = SummaryWriter(log_dir=tmp_path)
    model = tiny_transformer(max_epochs=EPOCHS, callbacks=[("tensorboard", TensorBoard(writer))])
    model.fit(X, y)

    assert model.n_epochs_ == EPOCHS
    scalars = _scalars(tmp_path)
    assert {"Loss/train_loss", "Loss/valid_loss", "dur"} <= set(scalars)
    assert [step for step, _ in scalars["Loss/train_loss"]] == [1, 2, 3]
    _assert_same(scalars, _logged(model.net_))
    # close_after_train=True: the writer is closed, so the fitted model pickles.
    pickle.dumps(model)


def test_ensemble_members_share_one_writer(data, tmp_path):
    X, y = data
    callback = TensorBoard(SummaryWriter(log_dir=tmp_path))
    model = tiny_transformer(max_epochs=EPOCHS, n_ensemble=2, callbacks=[("tb", callback)])
    model.fit(X, y)

    # The same object in both members' nets, not a copy.
    assert [dict(net.callbacks_)["tb"] is callback for net in model.nets_] == [True, True]
    # Closed after member 1, the writer reopens in a new file of the same folder.
    files = _event_files(tmp_path)
    assert len(files) == 2
    for file, net in zip(files, model.nets_, strict=True):
        _assert_same(_scalars(file), _logged(net))
    # The folder (one TensorBoard run) holds member 1's epochs, then member 2's.
    first, second = (_logged(net) for net in model.nets_)
    _assert_same(_scalars(tmp_path), {tag: first[tag] + second[tag] for tag in first})


def test_fine_tune_logs_to_the_same_writer_from_epoch_one(data, tmp_path):
    X, y = data
    model = tiny_transformer(max_epochs=2, callbacks=[TensorBoard(SummaryWriter(tmp_path))])
    model.fit(X, y)
    model.fine_tune(X[:3], y[:3], max_epochs=2)

    fit_file, tune_file = _event_files(tmp_path)
    scalars = _scalars(tune_file)
    # fine_tune trains without validation: only the training loss, epochs 1 and 2.
    assert "Loss/valid_loss" not in scalars
    _assert_same(scalars, _logged(model.net_, keys=("train_loss",)))


def test_tensorboard_per_net_gives_each_network_its_run(data, tmp_path, TensorBoardPerNet):
    X, y = data
    model = tiny_transformer(
        max_epochs=EPOCHS, n_ensemble=2, callbacks=[TensorBoardPerNet(tmp_path)]
    ).fit(X, y)

    runs = _runs(tmp_path)
    assert len(runs) == 2
    for run, net in zip(runs, model.nets_, strict=True):
        _assert_same(_scalars(run), _logged(net))
    # No writer is kept between trainings: the estimator clones and pickles.
    clone(model)
    pickle.dumps(model)

    model.fine_tune(X[:3], y[:3], max_epochs=2, only_prompt=False)
    runs = _runs(tmp_path)
    assert len(runs) == 4
    for run, net in zip(runs[2:], model.nets_, strict=True):
        _assert_same(_scalars(run), _logged(net, keys=("train_loss",)))


def test_tune_needs_a_callback_that_can_be_cloned(data, tmp_path, TensorBoardPerNet):
    X, y = data
    distributions = {"lr": FloatDistribution(1e-4, 1e-2, log=True)}
    search = dict(cv=2, n_trials=2, random_state=0)

    shared = tiny_transformer(max_epochs=2, callbacks=[TensorBoard(SummaryWriter(tmp_path))])
    with pytest.raises(TypeError, match="pickle"):
        tune(shared, distributions, X, y, **search)

    estimator = tiny_transformer(max_epochs=2, callbacks=[TensorBoardPerNet(tmp_path / "tune")])
    result = tune(estimator, distributions, X, y, **search)

    # Two trials × two folds, then the refit of best_estimator_, in that order.
    runs = _runs(tmp_path / "tune")
    assert len(runs) == 5
    trials = result.study_.trials
    for trial, trial_runs in zip(trials, (runs[0:2], runs[2:4]), strict=True):
        assert all(
            trial.datetime_start <= _start(run) <= trial.datetime_complete for run in trial_runs
        )
    assert _start(runs[4]) > trials[-1].datetime_complete
    _assert_same(_scalars(runs[4]), _logged(result.best_estimator_.net_))

    # The per-trial summary of docs/tracking.md.
    with SummaryWriter(log_dir=tmp_path / "trials") as writer:
        for trial in result.study_.trials:
            if trial.value is not None:
                writer.add_scalar("tune/score", trial.value, global_step=trial.number)
    points = _scalars(tmp_path / "trials")["tune/score"]
    assert [step for step, _ in points] == [0, 1]
    np.testing.assert_allclose([v for _, v in points], [t.value for t in trials], rtol=1e-6)


def test_save_refuses_callbacks_until_they_are_unset(data, tmp_path):
    X, y = data
    model = tiny_transformer(max_epochs=2, callbacks=[TensorBoard(SummaryWriter(tmp_path))])
    model.fit(X, y)
    path = tmp_path / "model.safetensors"
    with pytest.raises(ValueError, match="holds skorch callback objects"):
        model.save(path)
    assert not path.exists()

    model.set_params(callbacks=None).save(path)
    loaded = load_model(path)
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
