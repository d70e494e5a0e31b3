"""``checkpoint_dir``: a killed fit resumes after its last finished epoch and ends as an
uninterrupted fit would; finished networks are not trained again; a folder serves one
configuration and data set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_dataset, tiny_transformer
from skorch.callbacks import Callback

# On tiny_dataset the validation loss is best at epoch 3 and worse after, so early stopping
# ends this fit at epoch 6 and restores the weights of epoch 3: a fit interrupted in epoch
# 5 must resume with the schedule, the batch order, early stopping's count and best weights
# and the best validation loss of epochs 1-4.
RESUMABLE = dict(max_epochs=8, patience=3, lr=1e-2)
KILL_EPOCH = 5

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:.*crystal systems that training never saw:UserWarning",
)


class RecordEpochs(Callback):
    """Records ``(net, epoch)`` for every epoch a fit trains."""

    def __init__(self):
        self.trained = []

    def on_epoch_begin(self, net, **kwargs):
        self.trained.append((net, len(net.history)))


class FailInEpoch(Callback):
    """Raises after the first training batch of ``epoch`` of the ``member``-th network trained."""

    def __init__(self, epoch, member=0):
        self.epoch = epoch
        self.member = member
        self.trainings = 0

    def on_train_begin(self, net, **kwargs):
        self.trainings += 1

    def on_batch_end(self, net, training=None, **kwargs):
        if training and self.trainings == self.member + 1 and len(net.history) == self.epoch:
            raise RuntimeError("interrupted")


def _history(model, keys=("epoch", "train_loss", "valid_loss", "valid_loss_best")):
    return [net.history[:, keys] for net in model.nets_]


def _assert_same_fit(model, reference):
    np.testing.assert_allclose(
        model.predict(tiny_dataset()[0]), reference.predict(tiny_dataset()[0]), rtol=0, atol=1e-6
    )
    for ours, theirs in zip(_history(model), _history(reference), strict=True):
        assert len(ours) == len(theirs)
        for row, expected in zip(ours, theirs, strict=True):
            assert row[0] == expected[0] and row[3] == expected[3]
            np.testing.assert_allclose(row[1:3], expected[1:3], rtol=0, atol=1e-6)
    for net, expected in zip(model.nets_, reference.nets_, strict=True):
        np.testing.assert_allclose(
            net.history[:, "batches", :, "event_lr"],
            expected.history[:, "batches", :, "event_lr"],
            rtol=1e-12,
        )


_KILLED_FIT = """
import sys
import time
from pathlib import Path

sys.path.insert(0, {tests!r})
import torch
from skorch.callbacks import Callback

from conftest import tiny_dataset, tiny_transformer

torch.set_num_threads(1)


class HangInEpoch(Callback):
    def on_batch_end(self, net, training=None, **kwargs):
        if training and len(net.history) == {epoch}:
            Path({marker!r}).touch()
            while True:  # until the test kills this process
                time.sleep(60)


X, y = tiny_dataset()
params = dict({params!r}, checkpoint_dir={folder!r}, callbacks=[HangInEpoch()])
tiny_transformer(**params).fit(X, y)
raise SystemExit("the fit was not killed")
"""


def _fit_and_kill(folder: Path, marker: Path, log: Path) -> None:
    """Fit in a subprocess that blocks in epoch ``KILL_EPOCH``; SIGKILL it there."""
    script = _KILLED_FIT.format(
        tests=str(Path(__file__).parent),
        epoch=KILL_EPOCH,
        marker=str(marker),
        params=RESUMABLE,
        folder=str(folder),
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            # Synchronised on the marker; the deadline only keeps a broken child from
            # hanging the test run.
            deadline = time.monotonic() + 600
            while not marker.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the fit ended before epoch {KILL_EPOCH}:\n{log.read_text()}")
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_fit_resumes_after_kill(tmp_path):
    folder = tmp_path / "checkpoints"
    _fit_and_kill(folder, tmp_path / "in_epoch", tmp_path / "child.log")
    member = folder / "member_0"
    assert sorted(entry.name for entry in member.iterdir()) == [f"epoch_{KILL_EPOCH - 1:04d}"]

    X, y = tiny_dataset()
    record = RecordEpochs()
    resumed = tiny_transformer(**RESUMABLE, checkpoint_dir=folder, callbacks=[record]).fit(X, y)
    trained = [epoch for _, epoch in record.trained]
    # Epochs 1-4 come from the checkpoint; training went on at epoch 5.
    assert trained == list(range(KILL_EPOCH, resumed.n_epochs_ + 1))
    assert (member / "final").is_dir()
    assert resumed.n_epochs_ < RESUMABLE["max_epochs"]  # early stopping ended it

    uninterrupted = tiny_transformer(**RESUMABLE, checkpoint_dir=tmp_path / "fresh").fit(X, y)
    _assert_same_fit(resumed, uninterrupted)


def test_resuming_a_finished_fit_trains_nothing(tmp_path):
    X, y = tiny_dataset()
    first = tiny_transformer(checkpoint_dir=tmp_path).fit(X, y)
    record = RecordEpochs()
    again = tiny_transformer(checkpoint_dir=tmp_path, callbacks=[record]).fit(X, y)
    assert record.trained == []
    assert again.n_epochs_ == first.n_epochs_ == 3
    _assert_same_fit(again, first)


def test_a_fit_killed_while_writing_its_manifest_starts_again(tmp_path, monkeypatch):
    # The manifest is staged as manifest.json.partial and renamed into place: a process
    # killed in between leaves only the staged file, which the next fit must pass over.
    X, y = tiny_dataset()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed between staging and renaming the manifest")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            tiny_transformer(checkpoint_dir=tmp_path).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json.partial"]
    again = tiny_transformer(checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_fit(again, tiny_transformer().fit(X, y))


def test_another_configuration_or_data_is_refused(tmp_path):
    X, y = tiny_dataset()
    tiny_transformer(checkpoint_dir=tmp_path, max_epochs=2).fit(X, y)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*another configuration.*max_epochs"):
        tiny_transformer(checkpoint_dir=tmp_path, max_epochs=3).fit(X, y)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*data: y\b"):
        tiny_transformer(checkpoint_dir=tmp_path, max_epochs=2).fit(X, y * 0.5)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*data: X\b"):
        tiny_transformer(checkpoint_dir=tmp_path, max_epochs=2).fit(X[::-1], y)
    # Parameters that do not change what is learned may differ.
    tiny_transformer(checkpoint_dir=str(tmp_path), max_epochs=2, verbose=0, n_jobs=1).fit(X, y)

    stranger = tmp_path / "not_a_checkpoint"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*not empty"):
        tiny_transformer(checkpoint_dir=stranger).fit(X, y)
    with pytest.raises(ValueError, match="checkpoint_dir must be None or a folder path"):
        tiny_transformer(checkpoint_dir=3).fit(X, y)


def test_a_fit_without_random_state_resumes_with_its_first_seeds(tmp_path):
    X, y = tiny_dataset()
    params = dict(random_state=None, checkpoint_dir=tmp_path)
    with pytest.raises(RuntimeError, match="interrupted"):
        tiny_transformer(**params, callbacks=[FailInEpoch(epoch=2)]).fit(X, y)
    seeds = json.loads((tmp_path / "manifest.json").read_text())["seeds"]
    record = RecordEpochs()
    resumed = tiny_transformer(**params, callbacks=[record]).fit(X, y)
    assert [epoch for _, epoch in record.trained] == [2, 3]
    assert resumed.net_.iterator_train__generator.initial_seed() == seeds[0]


def test_ensemble_resumes_member_by_member(tmp_path):
    X, y = tiny_dataset()
    params = dict(n_ensemble=2, checkpoint_dir=tmp_path / "interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        tiny_transformer(**params, callbacks=[FailInEpoch(epoch=2, member=1)]).fit(X, y)
    assert (tmp_path / "interrupted" / "member_0" / "final").is_dir()
    assert [p.name for p in (tmp_path / "interrupted" / "member_1").iterdir()] == ["epoch_0001"]

    record = RecordEpochs()
    resumed = tiny_transformer(**params, callbacks=[record]).fit(X, y)
    # The finished member is loaded, not retrained; the other goes on after epoch 1.
    assert [(net, epoch) for net, epoch in record.trained] == [
        (resumed.nets_[1], 2),
        (resumed.nets_[1], 3),
    ]
    reference = tiny_transformer(n_ensemble=2, checkpoint_dir=tmp_path / "whole").fit(X, y)
    _assert_same_fit(resumed, reference)
    np.testing.assert_allclose(
        resumed.predict(X, return_std=True)[1], reference.predict(X, return_std=True)[1], atol=1e-6
    )


def test_a_write_cut_short_leaves_the_last_checkpoint(tmp_path, monkeypatch):
    from dos_estimators.estimators import checkpoint

    X, y = tiny_dataset()
    writes = []

    def failing_state(net):
        writes.append(len(net.history))
        if len(net.history) == 2:  # params, optimizer and history of epoch 2 are written
            raise OSError("disk full")
        return training_state(net)

    training_state = checkpoint.training_state
    monkeypatch.setattr(checkpoint, "training_state", failing_state)
    with pytest.raises(OSError, match="disk full"):
        tiny_transformer(checkpoint_dir=tmp_path).fit(X, y)
    monkeypatch.undo()
    member = tmp_path / "member_0"
    assert sorted(p.name for p in member.iterdir()) == ["epoch_0001", "epoch_0002.partial"]

    record = RecordEpochs()
    resumed = tiny_transformer(checkpoint_dir=tmp_path, callbacks=[record]).fit(X, y)
    assert [epoch for _, epoch in record.trained] == [2, 3]
    assert sorted(p.name for p in member.iterdir()) == ["final"]
    _assert_same_fit(resumed, tiny_transformer().fit(X, y))


def test_checkpoint_holds_the_whole_training_state(tmp_path):
    X, y = tiny_dataset()

    class Snapshot(Callback):
        """The generator state at the end of each epoch, when the checkpoint is written."""

        def __init__(self):
            self.states = {}

        def on_epoch_end(self, net, **kwargs):
            self.states[len(net.history)] = net.iterator_train__generator.get_state().clone()

    snapshot = Snapshot()
    model = tiny_transformer(checkpoint_dir=tmp_path, callbacks=[snapshot, FailInEpoch(epoch=3)])
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(X, y)
    epoch = tmp_path / "member_0" / "epoch_0002"
    assert sorted(p.name for p in epoch.iterdir()) == [
        "criterion.pt",
        "history.json",
        "optimizer.pt",
        "params.pt",
        "training_state.pt",
    ]
    steps = 2 * 2  # two epochs of two batches (7 training crystals, batch_size=4)

    # Every file reads without pickle.
    optimizer = torch.load(epoch / "optimizer.pt", weights_only=True)
    state = torch.load(epoch / "training_state.pt", weights_only=True)
    params = torch.load(epoch / "params.pt", weights_only=True)
    history = json.loads((epoch / "history.json").read_text())
    assert len(history) == 2

    moments = next(iter(optimizer["state"].values()))
    assert int(moments["step"]) == steps and moments["exp_avg"].abs().sum() > 0
    schedule = state["callbacks"]["lr_schedule"]
    assert schedule["batch_idx_"] == steps and schedule["scheduler"]["last_epoch"] == steps
    assert schedule["scheduler"]["_last_lr"] == [group["lr"] for group in optimizer["param_groups"]]
    early_stopping = state["callbacks"]["early_stopping"]
    assert early_stopping["best_model_weights_"].keys() == params.keys()
    assert early_stopping["misses_"] in (0, 1) and early_stopping["best_epoch_"] in (1, 2)
    assert state["callbacks"]["valid_loss"]["best_score_"] == min(
        row["valid_loss"] for row in history
    )
    assert torch.equal(state["generator"], snapshot.states[2])
    assert not torch.equal(state["generator"], snapshot.states[1])

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fingerprint"]["params"]["max_epochs"] == 3
    assert len(manifest["seeds"]) == 1 and len(manifest["split"][1]) == 1


def _small_regressor(name, **params):
    from dos_estimators import (
        DOSVectorRegressor,
        E3NNDOSRegressor,
        GraphNetworkDOSRegressor,
        MLPDOSRegressor,
    )

    X, y = tiny_dataset()
    common = dict(max_epochs=3, batch_size=4, random_state=0, **params)
    if name == "vector":
        features = np.random.default_rng(0).normal(size=(len(X), 5))
        return DOSVectorRegressor(hidden=16, **common), features, y
    small = {
        "mlp": (MLPDOSRegressor, dict(hidden=16)),
        "graph_network": (GraphNetworkDOSRegressor, dict(hidden=16, n_layers=1)),
        "e3nn": (E3NNDOSRegressor, dict(hidden=8, mul=4, embedding=8, n_layers=1)),
    }
    cls, architecture = small[name]
    return cls(**architecture, **common), X, y


@pytest.mark.parametrize("name", ["mlp", "graph_network", "e3nn", "vector"])
def test_every_regressor_resumes(name, tmp_path):
    model, X, y = _small_regressor(name, checkpoint_dir=tmp_path, callbacks=[FailInEpoch(epoch=2)])
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(X, y)
    record = RecordEpochs()
    resumed = model.set_params(callbacks=[record]).fit(X, y)
    assert [epoch for _, epoch in record.trained] == [2, 3]
    reference, _, _ = _small_regressor(name)
    reference.fit(X, y)
    np.testing.assert_allclose(resumed.predict(X), reference.predict(X), rtol=0, atol=1e-6)


def test_no_checkpoint_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = tiny_dataset()
    tiny_transformer(checkpoint_dir=None).fit(X, y)
    assert list(tmp_path.iterdir()) == []


def test_checkpointing_does_not_change_the_fit(tmp_path):
    X, y = tiny_dataset()
    plain = tiny_transformer(**RESUMABLE).fit(X, y)
    checkpointed = tiny_transformer(**RESUMABLE, checkpoint_dir=tmp_path).fit(X, y)
    _assert_same_fit(checkpointed, plain)
