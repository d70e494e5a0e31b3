"""Shared machinery of the DOS regressors.

A scikit-learn estimator checks its input once, turns it into crystal graphs
(or feature tensors) and hands training to a skorch ``NeuralNet`` (validation
split, early stopping with best-weights restore, one-cycle learning rate,
progress output, and with ``checkpoint_dir`` a checkpoint after every epoch
from which a killed fit resumes; see :mod:`.checkpoint`).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from skorch.helper import predefined_split
from skorch.hf import AccelerateMixin
from torch.utils.data import Dataset, default_collate

from .._cpu import cpu_turns, pause
from .._torch import deterministic, seeded
from .._validation import is_integer, is_real
from ..embeddings import NodeFeatureUnion, check_node_features, is_table
from ..featurizers import CrystalFeatures, check_crystal_features
from ..graphs import CRYSTAL_ATTR_NAMES, collate_graphs, structures_to_graphs
from ..metrics import r2_pooled
from ..nn import ATOM_ENCODER_INPUT, DOSTransformerLoss
from ..nn.layers import POOLINGS
from ..phonons import require_energies
from ..structures import check_structures
from .checkpoint import CheckpointFolder, ResumeTraining, array_digest, fingerprint, inputs_digest
from .prior import check_prior, make_prior, prior_channels

PREDICT_BATCH_SIZE = 256


class DOSDataset(Dataset):
    """Model inputs (crystal graphs or feature rows) with optional DOS targets.

    Parameters
    ----------
    inputs : list of torch_geometric.data.Data, or torch.Tensor of shape [n_samples, F]
    targets : torch.Tensor of shape [n_samples, n_energies], optional
        Without targets each item pairs the input with an empty tensor.
    """

    def __init__(self, inputs, targets: torch.Tensor | None = None):
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i):
        target = self.targets[i] if self.targets is not None else torch.empty(0)
        return self.inputs[i], target


class DOSNeuralNet(NeuralNet):
    """skorch ``NeuralNet`` whose batches are PyG ``Batch`` objects or plain tensors.

    After every batch it lets a fit or prediction waiting for the CPU cores take its
    turn (see :mod:`dos_estimators._cpu`).
    """

    def infer(self, x, **fit_params):
        return self.module_(x.to(self.device), **fit_params)

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        pause()
        return step

    def validation_step(self, batch, **fit_params):
        step = super().validation_step(batch, **fit_params)
        pause()
        return step

    def evaluation_step(self, batch, training=False):
        output = super().evaluation_step(batch, training=training)
        pause()
        return output


ACCELERATE = "accelerate"
"""The ``device`` that hands training to Hugging Face accelerate (several GPUs, processes)."""


def _accelerate():
    """The ``accelerate`` package, or an ImportError that says how to install it."""
    try:
        import accelerate
    except ImportError as error:
        raise ImportError(
            "device='accelerate' needs the accelerate package: "
            "pip install 'dos_estimators[accelerate]'"
        ) from error
    return accelerate


class AcceleratedDOSNeuralNet(AccelerateMixin, DOSNeuralNet):
    """A ``DOSNeuralNet`` that Hugging Face accelerate places, shards and synchronises.

    Under ``accelerate launch`` each process trains on its share of every epoch's
    batches and the gradients are averaged across processes (data parallel);
    validation gathers every process's predictions. It only trains: the estimators
    keep each trained network as a plain :class:`DOSNeuralNet` (see
    ``DOSRegressorBase._plain_net``).
    """

    def infer(self, x, **fit_params):
        return self.module_(x.to(self.accelerator.device), **fit_params)


def _discard(*args, **kwargs) -> None:
    """A print sink that prints nothing (an accelerated net's log with ``verbose=0``)."""


def check_targets(y, n_samples: int) -> np.ndarray:
    """Validate a DOS target matrix.

    Parameters
    ----------
    y : array-like of shape (n_samples, n_energies)
    n_samples : int
        Number of structures it must match.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_energies), float64

    Raises
    ------
    ValueError
        If ``y`` is None, rows are ragged, ``y`` is not two-dimensional, holds NaN, infinite
        or negative values or a row that is zero at every energy, or its row count differs
        from ``n_samples``.
    """
    if y is None:
        # The wording scikit-learn's check_requires_y_none looks for.
        raise ValueError(
            "A DOS regressor requires y to be passed, but the target y is None; give the DOS "
            "of each sample as an (n_samples, n_energies) array."
        )
    try:
        Y = np.asarray(y, dtype=float)
    except ValueError as err:
        raise ValueError(
            f"y must be a rectangular (n_samples, n_energies) array; its rows have different "
            f"lengths or are not numeric ({err})."
        ) from None
    if Y.ndim != 2:
        raise ValueError(
            f"y must have shape (n_samples, n_energies), one DOS per row; got shape {Y.shape}."
        )
    if Y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} structures but y has {Y.shape[0]} rows.")
    if Y.shape[1] < 1:
        raise ValueError("y has no energies (zero columns).")
    finite = np.isfinite(Y)
    if not finite.all():
        row = int(np.argwhere(~finite)[0, 0])
        raise ValueError(f"y contains NaN or infinite values (first in row {row}).")
    if (Y < 0).any():
        row, col = (int(i) for i in np.argwhere(Y < 0)[0])
        raise ValueError(
            f"y contains negative densities (first in row {row}, energy index {col}: "
            f"{Y[row, col]:g}); a DOS is non-negative."
        )
    empty = ~Y.any(axis=1)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise ValueError(
            f"y row {row} is zero at every energy: a DOS has states somewhere on its grid (a "
            "failed calculation, or an energy window inside a band gap?); drop that sample or "
            "fix its DOS."
        )
    return Y


def check_energies(energies, n_energies: int) -> np.ndarray:
    """Validate the energy grid of a DOS matrix.

    Parameters
    ----------
    energies : array-like of shape (n_energies,) or None
        Energies (or frequencies) of the DOS columns; None means the column index.
    n_energies : int
        Number of DOS columns it must match.

    Returns
    -------
    numpy.ndarray of shape (n_energies,), float64

    Raises
    ------
    ValueError
        If ``energies`` is not one-dimensional, has another length, holds NaN or
        infinite values, or does not increase strictly.
    """
    if energies is None:
        return np.arange(n_energies, dtype=float)
    grid = np.asarray(energies, dtype=float)
    if grid.ndim != 1 or len(grid) != n_energies:
        raise ValueError(
            f"energies must be a 1-D array of the {n_energies} energies of the DOS columns, "
            f"got shape {grid.shape}."
        )
    if not np.isfinite(grid).all():
        raise ValueError("energies holds NaN or infinite values.")
    if n_energies > 1 and not (np.diff(grid) > 0).all():
        raise ValueError("energies must increase strictly.")
    return grid


class DOSRegressorBase(RegressorMixin, BaseEstimator):
    """Base class: a DOS regressor trained with skorch, whatever its input.

    Subclasses list their parameters in ``__init__`` (scikit-learn convention),
    turn ``X`` into model inputs in :meth:`_inputs` and build the torch module
    in :meth:`_build_module`; they may override :meth:`_build_criterion` and
    :meth:`_configure_module`.

    Subclass parameters used here: ``lr``, ``weight_decay``, ``batch_size``,
    ``max_epochs``, ``patience``, ``validation_fraction``, ``n_ensemble``,
    ``device``, ``callbacks``, ``random_state``, ``verbose`` and (optional,
    default None) ``checkpoint_dir``.
    """

    _collate = staticmethod(default_collate)

    # -- hooks -------------------------------------------------------------
    def _inputs(self, X, fitting: bool = False, y=None, energies=None):
        """Checked model inputs for ``X``: a list of graphs or a tensor of rows.

        With ``fitting``, ``X`` and ``y`` are the training data, from which input
        transformations (node embeddings, crystal features, a prior) are learned first.
        ``energies`` is the grid of ``y`` when fitting (``fit``'s, possibly None), and
        otherwise a grid other than ``energies_`` to predict on.
        """
        raise NotImplementedError

    def _input_width(self, inputs) -> int:
        """Width of one input's features, passed to :meth:`_build_module`."""
        raise NotImplementedError

    def _build_module(self, in_features: int, n_energies: int) -> torch.nn.Module:
        raise NotImplementedError

    def _build_criterion(self) -> torch.nn.Module:
        """The training loss; RMSE over the batch unless a subclass says otherwise."""
        return DOSTransformerLoss()

    def _configure_module(self, module: torch.nn.Module) -> None:
        """Set state learned from the training data on a new module."""

    def _atom_encoder(self) -> torch.nn.Module | None:
        """A new module computing node features inside the network, or None."""
        return None

    def _assemble_module(self, in_features: int, n_energies: int) -> torch.nn.Module:
        """A new network: built, given its atom encoder if any, configured."""
        module = self._build_module(in_features, n_energies)
        encoder = self._atom_encoder()
        if encoder is not None:
            module.atom_encoder = encoder
        self._configure_module(module)
        return module

    @staticmethod
    def _learning_rates(module: torch.nn.Module, lr: float):
        """skorch's optimizer parameter groups for ``module``, and each group's rate.

        An atom encoder (a fine-tuned potential) trains at ``lr`` times its
        ``lr_ratio``; everything else at ``lr``. skorch puts matched groups first.

        Returns
        -------
        param_groups : list of (str, dict)
        rates : list of float
            One per optimizer parameter group, in skorch's order.
        """
        encoder = getattr(module, "atom_encoder", None)
        if encoder is None or not any(p.requires_grad for p in encoder.parameters()):
            return [], [lr]
        rate = lr * encoder.lr_ratio
        return [("atom_encoder.*", {"lr": rate})], [rate, lr]

    def _learn_from_training(self, inputs) -> None:
        """Learn what the modules need from the training inputs (not the validation part)."""

    # -- helpers -----------------------------------------------------------
    def _check_integers(self, minimum: int, *names: str) -> None:
        """Raise a ValueError naming the first parameter that is not an integer ≥ ``minimum``."""
        for name in names:
            value = getattr(self, name)
            if not (is_integer(value) and value >= minimum):
                raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")

    def _check_flags(self, *names: str) -> None:
        """Raise a ValueError naming the first parameter that is not True or False."""
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}.")

    # Numeric parameters: (name, lowest value, whether the lowest is allowed, upper bound
    # excluded). A subclass without the parameter skips its check.
    _NUMBER_RANGES = (
        ("lr", 0.0, False, None),
        ("weight_decay", 0.0, True, None),
        ("dropout", 0.0, True, 1.0),
        ("beta", 0.0, True, None),
        ("symprec", 0.0, False, None),
    )

    def _check_params(self) -> None:
        """Check every constructor parameter, before any input is looked at."""
        self._check_integers(1, "batch_size", "max_epochs", "n_ensemble")
        fraction = self.validation_fraction
        if fraction is not None and not (is_real(fraction) and 0 <= fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction!r}.")
        for name, low, closed, high in self._NUMBER_RANGES:
            if not hasattr(self, name):
                continue
            value = getattr(self, name)
            above = is_real(value) and (value >= low if closed else value > low)
            if not (above and (high is None or value < high)):
                interval = (
                    f"{'[' if closed else '('}{low:g}, {'∞)' if high is None else f'{high:g})'}"
                )
                raise ValueError(f"{name} must be a number in {interval}, got {value!r}.")
        if self.patience is not None and not (is_integer(self.patience) and self.patience >= 0):
            raise ValueError(
                f"patience must be None or an integer of at least 0, got {self.patience!r}."
            )
        if hasattr(self, "pooling") and self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} is not one of {POOLINGS}.")
        folder = self._checkpoint_dir
        if self.device == ACCELERATE:
            _accelerate()
            if folder is not None:
                raise ValueError(
                    "checkpoint_dir cannot be used with device='accelerate': the processes "
                    "that accelerate launches would all write the same checkpoints."
                )
        if folder is not None and not isinstance(folder, (str, os.PathLike)):
            raise ValueError(
                f"checkpoint_dir must be None or a folder path (str or os.PathLike), got "
                f"{folder!r}."
            )

    @property
    def _checkpoint_dir(self):
        return getattr(self, "checkpoint_dir", None)

    def _split(self, n_samples: int, rng: np.random.RandomState):
        fraction = self.validation_fraction or 0.0
        n_valid = math.ceil(fraction * n_samples) if fraction > 0 else 0
        if n_valid and n_samples - n_valid < 1:
            raise ValueError(
                f"validation_fraction={fraction} leaves no training sample out of "
                f"n_samples={n_samples}."
            )
        order = rng.permutation(n_samples)
        return order[n_valid:], order[:n_valid]

    def _callbacks(
        self, steps_per_epoch: int, validate: bool, checkpoint=None, max_lr=None
    ) -> list:
        """The training callbacks, in the order skorch calls them.

        ``max_lr`` is the one-cycle schedule's peak rate per optimizer parameter group
        (default: ``lr`` for all).

        ``checkpoint`` (an :class:`~.checkpoint.EpochCheckpoint`) comes last, so that it
        saves what every other callback did in the epoch; when it resumes, the callback
        that loads it comes right after the scheduler and early stopping, whose
        ``on_train_begin`` would reset what it restores.
        """
        callbacks = []
        # Regressors without an ``lr_schedule`` parameter use the one-cycle schedule.
        if getattr(self, "lr_schedule", "onecycle") == "onecycle":
            total_steps = self.max_epochs * steps_per_epoch
            # A tenth of the steps warm up, but at least two: torch divides by
            # (warm-up steps - 1), which is zero for exactly one.
            warm_up = 0.1 if total_steps > 10 else min(0.9, 2 / total_steps)
            scheduler = LRScheduler(
                policy=torch.optim.lr_scheduler.OneCycleLR,
                max_lr=self.lr if max_lr is None else max_lr,
                total_steps=total_steps,
                pct_start=warm_up,
                step_every="batch",
            )
            callbacks.append(("lr_schedule", scheduler))
        if self.patience:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss" if validate else "train_loss",
                        patience=self.patience,
                        load_best=True,
                    ),
                )
            )
        if checkpoint is not None and checkpoint.resume_from is not None:
            callbacks.append(("load_checkpoint", ResumeTraining(checkpoint)))
        if self.verbose and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks += self._user_callbacks()
        if checkpoint is not None:
            callbacks.append(("checkpoint", checkpoint))
        return callbacks

    def _user_callbacks(self) -> list:
        """The ``callbacks`` parameter as ``(name, callback)`` pairs."""
        return [
            callback if isinstance(callback, tuple) else (f"user_{i}", callback)
            for i, callback in enumerate(self.callbacks or [])
        ]

    @property
    def _device(self) -> torch.device:
        """The device this process computes on (accelerate's choice for ``"accelerate"``)."""
        if self.device == ACCELERATE:
            return _accelerate().PartialState().device
        return torch.device(self.device)

    def _turns(self):
        """The block in which a fit or prediction takes its turns on the CPU cores.

        Processes launched by accelerate train together and must not wait for turns
        (see :func:`dos_estimators._cpu.cpu_turns`).
        """
        return cpu_turns(self._device, share=self.device != ACCELERATE)

    def _new_net(self, module, seed, *, lr, max_epochs, train_split, callbacks):
        """A skorch net around ``module`` with this estimator's training settings.

        With ``device="accelerate"`` it is skorch's ``AccelerateMixin`` net, with a new
        ``accelerate.Accelerator`` that reads its settings (processes, mixed precision)
        from ``accelerate launch``/``accelerate config``.
        """
        if self.device == ACCELERATE:
            accelerate = _accelerate()
            handlers = []
            if getattr(module, "atom_encoder", None) is not None:
                # A fine-tuned potential's layers after the features it gives (its own
                # energy read-out) get no gradient, which data-parallel training must expect.
                handlers.append(
                    accelerate.DistributedDataParallelKwargs(find_unused_parameters=True)
                )
            accelerator = accelerate.Accelerator(kwargs_handlers=handlers)
            net_class = AcceleratedDOSNeuralNet
            placement = {
                "accelerator": accelerator,
                "device": None,
                # skorch hands every line to a sink other than print, whatever verbose says.
                "callbacks__print_log__sink": accelerator.print if self.verbose else _discard,
            }
        else:
            net_class, placement = DOSNeuralNet, {"device": self.device}
        param_groups, _ = self._learning_rates(module, lr)
        if param_groups:
            placement["optimizer__param_groups"] = param_groups
        return net_class(
            module=module,
            criterion=self._build_criterion(),
            optimizer=torch.optim.AdamW,
            lr=lr,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            iterator_train__collate_fn=self._collate,
            iterator_train__generator=torch.Generator().manual_seed(seed),
            iterator_valid__collate_fn=self._collate,
            # Inference needs no small batches: larger ones predict faster.
            iterator_valid__batch_size=max(self.batch_size, PREDICT_BATCH_SIZE),
            train_split=train_split,
            callbacks=callbacks,
            verbose=int(self.verbose),
            **placement,
        )

    def _plain_net(self, net) -> DOSNeuralNet:
        """A network that accelerate trained, as a plain ``DOSNeuralNet`` on its device.

        It predicts without accelerate (every process predicts all its inputs, with the
        weights that data-parallel training made identical in every process), pickles
        and saves; skorch's accelerated net holds accelerate's optimizer and scheduler
        wrappers, which do neither.
        """
        if not isinstance(net, AcceleratedDOSNeuralNet):
            return net
        params = net.get_params(deep=False)
        for name in ("accelerator", "unwrap_after_train", "callbacks__print_log__sink"):
            params.pop(name, None)
        params.update(module=net.module_, device=str(net.accelerator.device))
        plain = DOSNeuralNet(**params).initialize()
        plain.history = net.history
        return plain

    def _scaled_targets(self, y, n_samples: int, name: str = "y") -> torch.Tensor:
        """Check ``y`` against the fitted grid and scale it as in training."""
        Y = check_targets(y, n_samples)
        if Y.shape[1] != self.n_energies_:
            raise ValueError(
                f"{name} has {Y.shape[1]} energies but the model was trained on a grid of "
                f"{self.n_energies_}."
            )
        return torch.as_tensor(Y / self.y_scale_, dtype=torch.float32)

    @staticmethod
    def _subset(inputs, index):
        return [inputs[i] for i in index] if isinstance(inputs, list) else inputs[index]

    # -- scikit-learn API --------------------------------------------------
    def fit(self, X, y, *, energies=None, X_valid=None, y_valid=None):
        """Train on samples and their DOS.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms, or array-like
            ``n_samples`` crystals (or feature rows, for array-input regressors).
        y : array-like of shape (n_samples, n_energies)
            DOS of each sample on a common grid of any length.
        energies : array-like of shape (n_energies,), optional
            The energies (or frequencies) of the columns of ``y``, strictly
            increasing; stored as ``energies_``. Defaults to the column index.
        X_valid, y_valid : optional
            An explicit validation set for early stopping. Without it,
            ``validation_fraction`` of ``X`` is held out at random.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter or the data is invalid, or ``checkpoint_dir`` holds the
            checkpoint of another configuration or data (or is a non-empty folder
            without a checkpoint).

        Notes
        -----
        With ``checkpoint_dir`` set, each network's training state is saved after every
        epoch, and a fit with the same parameters and data resumes from it: networks
        that finished are loaded without training, the others continue after their
        last saved epoch.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If ``max_epochs`` ended the training of a network whose last epoch was
            its best (validation loss, or training loss without validation).

        Notes
        -----
        A fit that raises (bad data, a failing training step or callback) leaves the
        estimator as it was before: its earlier fitted state whole, or unfitted. (skorch
        ends a network's training quietly on Ctrl-C; the fit then goes on.)
        """
        before = self._fitted_state()
        try:
            # The whole fit, graphs included, takes its turns on the CPU cores with the
            # package's other fits and predictions (see dos_estimators._cpu).
            with self._turns():
                return self._fit(X, y, energies=energies, X_valid=X_valid, y_valid=y_valid)
        except BaseException:
            for key in self._fitted_state():
                delattr(self, key)
            for key, value in before.items():
                setattr(self, key, value)
            raise

    def _fitted_state(self) -> dict:
        """The fitted attributes (public names ending in an underscore) and their values."""
        return {
            key: value
            for key, value in vars(self).items()
            if key.endswith("_") and not key.startswith("_")
        }

    def _fit(self, X, y, *, energies=None, X_valid=None, y_valid=None):
        self._check_params()
        inputs = self._inputs(X, fitting=True, y=y, energies=energies)
        Y = check_targets(y, len(inputs))
        self.n_energies_ = Y.shape[1]
        self.energies_ = check_energies(energies, self.n_energies_)
        # One global scale keeps targets of order one whatever the DOS units.
        self.y_scale_ = float(Y.max()) if Y.max() > 0 else 1.0
        targets = torch.as_tensor(Y / self.y_scale_, dtype=torch.float32)
        in_features = self._input_width(inputs)

        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_ensemble)
        if (X_valid is None) != (y_valid is None):
            raise ValueError("Pass both X_valid and y_valid, or neither.")
        valid_inputs = valid_targets = split = None
        if X_valid is not None:
            valid_inputs = self._inputs(X_valid)
            valid_targets = self._scaled_targets(y_valid, len(valid_inputs), name="y_valid")
        else:
            split = self._split(len(inputs), rng)
        folder = None
        if self._checkpoint_dir is not None:
            folder = CheckpointFolder(self._checkpoint_dir)
            data = {
                "y_shape": list(Y.shape),
                "X": inputs_digest(inputs),
                "y": array_digest(Y),
                "energies": array_digest(self.energies_),
                "X_valid": None if valid_inputs is None else inputs_digest(valid_inputs),
                "y_valid": None if valid_targets is None else array_digest(y_valid),
            }
            # A fit without an integer random_state resumes with the seeds and split it
            # drew the first time.
            seeds, split = folder.open(fingerprint(self, data), seeds, split)
        if split is None:
            train_set = DOSDataset(inputs, targets)
            valid_set = DOSDataset(valid_inputs, valid_targets)
        else:
            train, valid = split
            train_set = DOSDataset(self._subset(inputs, train), targets[train])
            valid_set = (
                DOSDataset(self._subset(inputs, valid), targets[valid]) if len(valid) else None
            )
        self._learn_from_training(train_set.inputs)
        steps_per_epoch = math.ceil(len(train_set) / self.batch_size)

        self.nets_ = []
        for i, seed in enumerate(seeds):
            member = folder.member(i) if folder is not None else None
            checkpoint = member.checkpoint() if member is not None else None
            # Members differ only in initialisation and batch order.
            with seeded(int(seed), self._device):
                module = self._assemble_module(in_features, self.n_energies_)
                net = self._new_net(
                    module,
                    int(seed),
                    lr=self.lr,
                    max_epochs=self.max_epochs,
                    train_split=predefined_split(valid_set) if valid_set is not None else None,
                    callbacks=self._callbacks(
                        steps_per_epoch,
                        validate=valid_set is not None,
                        checkpoint=checkpoint,
                        max_lr=self._learning_rates(module, self.lr)[1],
                    ),
                )
                if member is not None and member.finished:
                    self._say(f"Network {i + 1} of {len(seeds)}: loaded from {member.path}.")
                    member.load_final(net)
                else:
                    done = member.epochs_done if member is not None else 0
                    if done:
                        self._say(
                            f"Network {i + 1} of {len(seeds)}: resuming after epoch {done} "
                            f"from {checkpoint.resume_from}."
                        )
                    # skorch's fit runs max_epochs more epochs: a resumed net has fewer left.
                    net.fit(train_set, None, epochs=self.max_epochs - done)
                    if member is not None and self._training_ended(net):
                        checkpoint.save_final(net)
            net = self._plain_net(net)
            # The validation inputs are not needed after training; do not pickle them.
            net.train_split = None
            self.nets_.append(net)
        self.net_ = self.nets_[0]
        self.n_epochs_ = len(self.net_.history)
        self._warn_if_still_improving(validated=valid_set is not None)
        return self

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message)

    def _training_ended(self, net) -> bool:
        """Whether ``net`` ran ``max_epochs`` or early stopping ended it (not an interruption)."""
        if len(net.history) >= self.max_epochs:
            return True
        early_stopping = dict(net.callbacks_).get("early_stopping")
        return early_stopping is not None and early_stopping.misses_ >= early_stopping.patience

    def _warn_if_still_improving(self, validated: bool) -> None:
        """ConvergenceWarning when ``max_epochs`` ended a network's training at its best epoch."""
        monitor = "valid_loss_best" if validated else "train_loss_best"
        improving = [
            net
            for net in self.nets_
            if len(net.history) == self.max_epochs and net.history[-1].get(monitor, False)
        ]
        if improving:
            loss = "validation" if validated else "training"
            warnings.warn(
                f"{len(improving)} of {len(self.nets_)} networks stopped at "
                f"max_epochs={self.max_epochs} with the {loss} loss still improving (the last "
                "epoch was the best); a larger max_epochs may fit better.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _check_return_std(self, return_std) -> None:
        """Raise a ValueError unless ``return_std`` is a bool this ensemble can honour."""
        if not isinstance(return_std, (bool, np.bool_)):
            raise ValueError(f"return_std must be True or False, got {return_std!r}.")
        if return_std and len(self.nets_) < 2:
            raise ValueError(
                f"return_std=True needs n_ensemble >= 2: the standard deviation is taken across "
                f"the networks of the ensemble, and this model has n_ensemble={len(self.nets_)}."
            )

    def _predict_inputs(self, inputs, return_std: bool = False):
        dataset = DOSDataset(inputs)
        with deterministic(self._device):
            members = [net.predict(dataset) for net in self.nets_]
        prediction = np.clip(np.mean(members, axis=0) * self.y_scale_, 0.0, None)
        if not return_std:
            return prediction
        # The spread of the members' own (clipped, non-negative) DOS predictions.
        spread = np.std(np.clip(np.asarray(members) * self.y_scale_, 0.0, None), axis=0)
        return prediction, spread

    def predict(self, X, *, return_std=False):
        """Predict the DOS of samples.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms, or array-like
        return_std : bool, default=False
            Also return the standard deviation across the networks of the ensemble
            (needs ``n_ensemble >= 2``).

        Returns
        -------
        y_pred : numpy.ndarray of shape (n_samples, n_energies)
            Non-negative, on the training grid: the mean of the networks' outputs,
            clipped at zero.
        y_std : numpy.ndarray of shape (n_samples, n_energies)
            Only with ``return_std=True``: per sample and energy, the population standard
            deviation (``ddof=0``) of the ``n_ensemble`` networks' predictions, each
            clipped at zero first. It measures how much the members disagree, not the
            error against the true DOS.

        Raises
        ------
        ValueError
            If ``return_std`` is not a bool, or is True with ``n_ensemble=1``.
        """
        check_is_fitted(self, "net_")
        self._check_return_std(return_std)
        with self._turns():
            return self._predict_inputs(self._inputs(X), return_std=return_std)

    def save(self, path, *, notes=None) -> None:
        """Write the fitted model to one file, without pickle.

        Reload it with :func:`dos_estimators.load_model`. The file (safetensors, with the
        parameters and fitted attributes as JSON in its header, a format version and a
        sha256 checksum) is described in ``docs/model_files.md``.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, e.g. ``"model.safetensors"``; replaced if it exists.
        notes : dict, optional
            JSON values kept with the model (how it was made, what it scored); read them
            back with :func:`dos_estimators.model_files.read_notes`.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model was not fitted.
        ValueError
            If ``callbacks`` is set, or a parameter holds an object that is not a JSON value
            or NumPy array (the message names it; such estimators need pickle).
        """
        from ..model_files import save_model

        save_model(self, path, notes=notes)

    def score(self, X, y, sample_weight=None) -> float:
        """Pooled R² over every crystal and energy, not the paper's per-crystal R².

        See :func:`dos_estimators.metrics.r2_per_crystal` for the paper's convention.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms, or array-like
        y : array-like of shape (n_samples, n_energies)
            Must be on the training grid.
        sample_weight : None
            Not supported; present for the scikit-learn signature.

        Returns
        -------
        float
        """
        check_is_fitted(self, "net_")
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by the flattened R² score.")
        Y = np.asarray(y, dtype=float)
        if Y.ndim == 2 and Y.shape[1] != self.n_energies_:
            raise ValueError(
                f"y has {Y.shape[1]} energies but the model was trained on a grid of "
                f"{self.n_energies_}; predict on the training grid."
            )
        prediction = self.predict(X)
        Y = check_targets(Y, len(prediction))
        return r2_pooled(Y, prediction)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A DOS is a non-negative vector per sample: y is required, 2-D and non-negative.
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.target_tags.positive_only = True
        tags.non_deterministic = self.random_state is None
        return tags


class GraphDOSRegressor(DOSRegressorBase):
    """Base class of the regressors on crystal structures.

    Structures are checked once and turned into periodic radius graphs;
    subclasses may attach more per-crystal attributes in :meth:`_annotate_graphs`.
    Subclass parameters used here, besides those of :class:`DOSRegressorBase`:
    ``node_features``, ``cutoff`` (a model without the parameter sees atoms
    only and its graphs have no edges), ``self_loops`` (optional, default False)
    and ``crystal_features`` (optional, default None).
    """

    _collate = staticmethod(collate_graphs)
    # Whether the graphs' volume and density descriptors lead the crystal attributes.
    _uses_crystal_descriptors = True

    def _annotate_graphs(self, structures, graphs, fitting: bool) -> None:
        """Attach extra per-crystal attributes to the graphs (in place)."""

    def _check_params(self) -> None:
        super()._check_params()
        if self._cutoff is not None and not self._cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {self._cutoff}.")
        check_node_features(self.node_features)
        check_crystal_features(getattr(self, "crystal_features", None))
        check_prior(getattr(self, "prior", None))

    @property
    def _cutoff(self) -> float | None:
        return getattr(self, "cutoff", None)

    def _inputs(self, X, fitting=False, y=None, energies=None):
        structures = check_structures(X)
        if fitting:
            # What the node features and crystal attributes are is decided here, once;
            # predict reads these fitted attributes, never the parameters again.
            self.node_table_ = self.node_features if is_table(self.node_features) else None
            self.n_crystal_descriptors_ = (
                len(CRYSTAL_ATTR_NAMES) if self._uses_crystal_descriptors else 0
            )
        # Models saved before these attributes existed read the parameters.
        table = getattr(self, "node_table_", self.node_features)
        descriptors = getattr(
            self,
            "n_crystal_descriptors_",
            len(CRYSTAL_ATTR_NAMES) if self._uses_crystal_descriptors else 0,
        )
        graphs = structures_to_graphs(
            structures,
            cutoff=self._cutoff,
            node_features=table,
            verbose=self.verbose,
            self_loops=bool(getattr(self, "self_loops", False)),
        )
        if fitting:
            targets = None if y is None else check_targets(y, len(structures))
            # Learned from the structures passed to fit (the validation_fraction part
            # included; an explicit X_valid is not), never from those predicted for.
            self.node_features_ = None
            if table is None:
                self.node_features_ = NodeFeatureUnion(
                    self.node_features, random_state=self.random_state
                ).fit(structures, targets)
            self.crystal_features_ = None
            spec = getattr(self, "crystal_features", None)
            if spec is not None:
                self.crystal_features_ = CrystalFeatures(spec).fit(structures, targets)
        node_features = getattr(self, "node_features_", None)
        if node_features is not None:
            features = node_features.transform(structures)
            for graph, x in zip(graphs, features, strict=True):
                graph.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            # A fine-tuned potential reads its own graph of each crystal in the network.
            encoder_inputs = node_features.encoder_inputs(structures)
            if encoder_inputs is not None:
                for graph, item in zip(graphs, encoder_inputs, strict=True):
                    graph[ATOM_ENCODER_INPUT] = item
        crystal_features = getattr(self, "crystal_features_", None)
        extra = (
            crystal_features.transform(structures)
            if crystal_features is not None
            else np.zeros((len(graphs), 0), dtype=np.float32)
        )
        for graph, row in zip(graphs, extra, strict=True):
            graph.crystal_attr = torch.cat(
                [graph.crystal_attr[:, :descriptors], torch.from_numpy(row[None, :])], dim=1
            )
        if fitting:
            self.n_crystal_attr_ = descriptors + extra.shape[1]
            self._fit_prior(structures, targets, energies)
        prior = getattr(self, "prior_", None)
        if prior is not None:
            grid = None if fitting else energies  # None: the grid the prior was fitted on
            channels = prior_channels(prior, structures, grid) * self.prior_amplitude_
            for graph, channel in zip(graphs, channels, strict=True):
                graph.prior = torch.from_numpy(channel[None].astype(np.float32))
        self._annotate_graphs(structures, graphs, fitting)
        return graphs

    def _fit_prior(self, structures, targets, energies) -> None:
        """Fit the ``prior`` parameter (of the estimators that have one) on the training grid."""
        if not hasattr(self, "prior"):
            return
        spec, self.prior_ = self.prior, None
        if spec is None:
            return
        if targets is None:
            raise ValueError("prior= needs the training DOS y.")
        require_energies(energies, "fit with prior=")
        grid = check_energies(energies, targets.shape[1])
        self.prior_ = make_prior(spec).fit(structures, targets, energies=grid)
        # The prior is max-scaled; the network sees it at the training rows' typical height.
        self.prior_amplitude_ = float(np.median(targets.max(axis=1))) / max(
            float(targets.max()), np.finfo(float).tiny
        )

    def _input_width(self, inputs):
        # Columns of the graphs' x, and those a fine-tuned potential adds in the network.
        node_features = getattr(self, "node_features_", None)
        encoded = getattr(node_features, "n_encoder_features_", 0)
        self.n_node_features_ = inputs[0].x.shape[1] + encoded
        return self.n_node_features_

    def _atom_encoder(self):
        node_features = getattr(self, "node_features_", None)
        return None if node_features is None else node_features.encoder()

    @property
    def _n_crystal_attr(self) -> int:
        """Width of the graphs' ``crystal_attr``: the fitted one, or the descriptors' alone."""
        default = len(CRYSTAL_ATTR_NAMES) if self._uses_crystal_descriptors else 0
        return getattr(self, "n_crystal_attr_", default)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


__all__ = [
    "CRYSTAL_ATTR_NAMES",
    "DOSDataset",
    "DOSNeuralNet",
    "DOSRegressorBase",
    "GraphDOSRegressor",
    "check_targets",
]
