"""Training checkpoints of the DOS regressors (their ``checkpoint_dir`` parameter).

A fit killed mid-way and started again with the same arguments resumes after
the last finished epoch, and ends where an uninterrupted fit would have ended.

Layout of a checkpoint folder::

    checkpoint_dir/
        manifest.json          estimator, parameters, data checksums; seeds and split
        member_0/              one folder per ensemble member
            epoch_0007/        the last finished epoch: params.pt, optimizer.pt,
                               criterion.pt, history.json, training_state.pt
            final/             once the member finished: params.pt, optimizer.pt,
                               criterion.pt, history.json (then no epoch_* is kept)
        member_1/ ...

skorch's ``Checkpoint`` writes the module, optimizer and criterion state dicts
and the history; :class:`EpochCheckpoint` publishes them atomically (a new
folder per epoch, renamed into place when complete) and adds
``training_state.pt``: the state of the learning-rate scheduler, of early
stopping (misses, threshold, best weights), of the loss callbacks' best score
and of the random generators (batch order, torch's global generator).
:class:`ResumeTraining`, skorch's ``LoadInitState`` extended by that state,
loads it all back when training begins. Every file is JSON, or tensors and
plain values that ``torch.load(weights_only=True)`` reads: loading a checkpoint
cannot run code, unlike unpickling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import (
    BatchScoring,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LoadInitState,
    LRScheduler,
    PassthroughScoring,
)

from .fingerprint import array_digest, fingerprint, fingerprint_differences, inputs_digest

FORMAT = "dos_estimators training checkpoint"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FINAL = "final"
TRAINING_STATE = "training_state.pt"
PARTIAL_SUFFIX = ".partial"
_EPOCH_FOLDER = re.compile(r"^epoch_(\d+)$")

# Attributes of skorch callbacks that carry training state from epoch to epoch
# (their ``on_train_begin`` or ``initialize`` resets them).
_EARLY_STOPPING_STATE = ("misses_", "dynamic_threshold_", "best_epoch_", "best_model_weights_")


# -- files ---------------------------------------------------------------------------------
def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (a no-op where the OS cannot)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json_atomically(path: Path, document: dict) -> None:
    # Staged under a fixed name (not _serialization.atomic_write's random one): a fit
    # killed mid-write leaves manifest.json.partial, which a rerun knows to ignore.
    staging = path.with_name(path.name + PARTIAL_SUFFIX)
    staging.write_text(json.dumps(document, indent=1, sort_keys=True))
    _fsync(staging)
    os.replace(staging, path)
    _fsync(path.parent)


# -- skorch callbacks ----------------------------------------------------------------------
def training_state(net) -> dict:
    """The state of ``net``'s training that skorch's ``Checkpoint`` does not save.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialized net, between two epochs.

    Returns
    -------
    dict
        ``"callbacks"``: per callback name, the learning-rate scheduler's
        ``state_dict()`` and batch count, early stopping's misses, threshold, best
        epoch and best weights, or a scoring callback's best score;
        ``"generator"``: the batch-order generator's state; ``"torch_rng"`` (and
        ``"cuda_rng"`` on a CUDA device): torch's global generator, which dropout
        draws from.
    """
    callbacks = {}
    for name, callback in net.callbacks_:
        if isinstance(callback, LRScheduler) and callback.lr_scheduler_ is not None:
            scheduler = callback.lr_scheduler_
            state = {"scheduler": scheduler.state_dict(), "batch_idx_": int(callback.batch_idx_)}
        elif isinstance(callback, EarlyStopping):
            state = {key: getattr(callback, key, None) for key in _EARLY_STOPPING_STATE}
            if state["dynamic_threshold_"] is not None:
                state["dynamic_threshold_"] = float(state["dynamic_threshold_"])
        elif isinstance(callback, (PassthroughScoring, EpochScoring, BatchScoring)):
            best = getattr(callback, "best_score_", None)
            state = {"best_score_": None if best is None else float(best)}
        else:
            continue
        callbacks[name] = state
    state = {
        "callbacks": callbacks,
        "generator": net.iterator_train__generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    if str(net.device).startswith("cuda"):
        state["cuda_rng"] = torch.cuda.get_rng_state(net.device)
    return state


def restore_training_state(net, state: dict) -> None:
    """Put the state of :func:`training_state` back into ``net`` and its callbacks."""
    callbacks = dict(net.callbacks_)
    for name, saved in state["callbacks"].items():
        callback = callbacks.get(name)
        if callback is None:
            continue
        if isinstance(callback, LRScheduler):
            # The optimizer's state dict (learning rate and momentum of each group) is
            # already loaded; the scheduler continues counting from its saved step.
            callback.lr_scheduler_.load_state_dict(saved["scheduler"])
            callback.batch_idx_ = saved["batch_idx_"]
        else:
            for key, value in saved.items():
                setattr(callback, key, value)
    net.iterator_train__generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and str(net.device).startswith("cuda"):
        torch.cuda.set_rng_state(state["cuda_rng"], net.device)


class EpochCheckpoint(Checkpoint):
    """skorch's ``Checkpoint`` after every epoch, published atomically, with the training state.

    Each epoch is written into ``epoch_NNNN.partial/`` (module, optimizer and
    criterion state dicts, history, :func:`training_state`), flushed, then renamed
    to ``epoch_NNNN/``; only then are older epochs deleted. A process killed at
    any moment leaves the last complete epoch intact. Place it after every other
    callback, so that it saves their updates of the epoch; an epoch that early
    stopping ends is not saved (a resumed fit trains it again, identically).

    Parameters
    ----------
    member_dir : str or os.PathLike
        Folder of one ensemble member.
    resume_from : str or os.PathLike, optional
        The epoch folder to resume from; :class:`ResumeTraining` reads its files.
    """

    def __init__(self, member_dir, resume_from=None):
        super().__init__(
            monitor=None,  # every epoch
            dirname=str(resume_from if resume_from is not None else member_dir),
            # No ``event_cp`` column: the history equals that of a fit without checkpoints.
            event_name=None,
        )
        self.member_dir = str(member_dir)
        self.resume_from = None if resume_from is None else str(resume_from)

    def save_model(self, net):
        """Write the epoch just finished, then delete the older ones."""
        self._publish(net, f"epoch_{len(net.history):04d}", with_state=True)

    def save_final(self, net):
        """Write the trained network to ``final/`` and delete the epoch folders."""
        self._publish(net, FINAL, with_state=False)

    def _save_params(self, f, net, f_name, log_name):
        # skorch's Checkpoint reports a failed write to its sink only; a checkpoint
        # missing a file must not be published.
        net.save_params(**{f_name: f})

    def _publish(self, net, name: str, with_state: bool) -> None:
        root = Path(self.member_dir)
        target = root / name
        staging = root / (name + PARTIAL_SUFFIX)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.dirname = str(staging)
        super().save_model(net)
        if with_state:
            torch.save(training_state(net), staging / TRAINING_STATE)
        for entry in staging.iterdir():
            _fsync(entry)
        _fsync(staging)
        if target.exists():  # the same epoch saved before: set it aside, never delete first
            stale = root / (name + ".stale" + PARTIAL_SUFFIX)
            shutil.rmtree(stale, ignore_errors=True)
            os.rename(target, stale)
        os.rename(staging, target)
        _fsync(root)
        self.dirname = str(target)
        for entry in root.iterdir():
            if entry != target and (
                entry.name.endswith(PARTIAL_SUFFIX) or _EPOCH_FOLDER.match(entry.name)
            ):
                shutil.rmtree(entry, ignore_errors=True)


class ResumeTraining(LoadInitState):
    """skorch's ``LoadInitState``, followed by the state :class:`EpochCheckpoint` adds.

    ``LoadInitState`` loads the module, optimizer and criterion state dicts
    (``torch.load(weights_only=True)``) and the history; then
    :func:`restore_training_state` restores schedule, early stopping, best scores
    and generators. Place it after the learning-rate scheduler and early stopping,
    whose ``on_train_begin`` resets what it restores.

    Parameters
    ----------
    checkpoint : EpochCheckpoint
        With ``resume_from`` set.
    """

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.did_load_:
            return
        super().on_train_begin(net, X=X, y=y, **kwargs)
        state = torch.load(
            Path(self.checkpoint.resume_from) / TRAINING_STATE,
            map_location=net.device,
            weights_only=True,
        )
        restore_training_state(net, state)


# -- the folder ----------------------------------------------------------------------------
class MemberFolder:
    """The checkpoints of one ensemble member.

    Parameters
    ----------
    path : pathlib.Path
    """

    def __init__(self, path: Path):
        self.path = path

    @property
    def finished(self) -> bool:
        """Whether the member's training ended (``final/`` exists)."""
        return (self.path / FINAL).is_dir()

    @property
    def latest(self) -> Path | None:
        """The folder of the last complete epoch, or None."""
        if not self.path.is_dir():
            return None
        epochs = [
            (int(match.group(1)), entry)
            for entry in self.path.iterdir()
            if (match := _EPOCH_FOLDER.match(entry.name)) and entry.is_dir()
        ]
        return max(epochs)[1] if epochs else None

    @property
    def epochs_done(self) -> int:
        """Epochs in the last complete checkpoint (0 without one)."""
        latest = self.latest
        return 0 if latest is None else int(_EPOCH_FOLDER.match(latest.name).group(1))

    def checkpoint(self) -> EpochCheckpoint:
        """A new checkpoint callback, resuming from :attr:`latest` if there is one."""
        return EpochCheckpoint(self.path, resume_from=self.latest)

    def load_final(self, net) -> None:
        """Initialize ``net`` with the finished member's weights and history."""
        net.initialize()
        final = self.path / FINAL
        net.load_params(f_params=final / "params.pt", f_history=final / "history.json")


class CheckpointFolder:
    """A fit's checkpoint folder: the manifest, and one :class:`MemberFolder` per member.

    Parameters
    ----------
    path : str or os.PathLike
        The estimator's ``checkpoint_dir``.
    """

    def __init__(self, path):
        self.path = Path(path)

    def _refuse(self, reason: str) -> ValueError:
        return ValueError(
            f"checkpoint_dir={str(self.path)!r} {reason}; pass another checkpoint_dir, or "
            "delete that folder to train from scratch."
        )

    def open(self, fingerprint: dict, seeds: list[int], split):
        """Start a new checkpoint, or check that the stored one belongs to this fit.

        Parameters
        ----------
        fingerprint : dict
            From :func:`fingerprint`.
        seeds : list of int
            The members' seeds this fit drew.
        split : tuple of two lists of int, or None
            Training and validation indices this fit drew (None with ``X_valid``).

        Returns
        -------
        seeds, split
            Those recorded in the manifest (equal to the arguments for an integer
            ``random_state``), so that a fit with ``random_state=None`` resumes too.

        Raises
        ------
        ValueError
            If the folder holds the checkpoint of another configuration or data, is
            not a checkpoint folder, or its manifest cannot be read.
        """
        manifest_path = self.path / MANIFEST
        if manifest_path.is_file():
            try:
                manifest = json.loads(manifest_path.read_text())
                stored_format = (manifest["format"], manifest["format_version"])
                stored_seeds = [int(seed) for seed in manifest["seeds"]]
                stored_split = manifest["split"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise self._refuse(f"has an unreadable {MANIFEST} ({err})") from None
            if stored_format != (FORMAT, FORMAT_VERSION):
                raise self._refuse(f"holds a checkpoint of format {stored_format}")
            differences = fingerprint_differences(manifest.get("fingerprint", {}), fingerprint)
            if differences:
                raise self._refuse(
                    "holds the checkpoint of another configuration or data (it differs in "
                    + ", ".join(differences)
                    + ")"
                )
            if stored_split is not None:
                stored_split = tuple(np.asarray(part, dtype=np.int64) for part in stored_split)
            return stored_seeds, stored_split
        if self.path.exists():
            if not self.path.is_dir():
                raise self._refuse("is not a folder")
            # Only a manifest cut short may be there: members without a manifest could
            # belong to any configuration.
            strangers = [
                entry.name
                for entry in self.path.iterdir()
                if entry.name != MANIFEST + PARTIAL_SUFFIX
            ]
            if strangers:
                raise self._refuse(
                    f"is not empty and holds no {MANIFEST} (it contains {sorted(strangers)[:3]})"
                )
        self.path.mkdir(parents=True, exist_ok=True)
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": fingerprint,
            "seeds": [int(seed) for seed in seeds],
            "split": None if split is None else [[int(i) for i in part] for part in split],
        }
        _write_json_atomically(manifest_path, document)
        return list(seeds), split

    def member(self, index: int) -> MemberFolder:
        """The folder of ensemble member ``index``."""
        return MemberFolder(self.path / f"member_{index}")


__all__ = [
    "CheckpointFolder",
    "EpochCheckpoint",
    "MemberFolder",
    "ResumeTraining",
    "array_digest",
    "fingerprint",
    "inputs_digest",
    "restore_training_state",
    "training_state",
]
