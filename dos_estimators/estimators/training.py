"""The training loop of a regressor: its ensemble members fitted through skorch.

:class:`TrainingMixin` holds what ``DOSRegressorBase.fit`` runs: the validation split,
the callbacks, each member's net, checkpointed resumption and the convergence warning.
It reads the regressor's parameters and hooks (``_inputs``, ``_assemble_module``, ...).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from skorch.helper import predefined_split

from .._torch import seeded
from .callbacks import training_callbacks, user_callbacks
from .checkpoint import CheckpointFolder
from .fingerprint import array_digest, fingerprint, inputs_digest
from .nets import DOSDataset, DOSNeuralNet, new_net, plain_net
from .validation import check_energies, check_targets


class TrainingMixin:
    """The fit of ``DOSRegressorBase``: one skorch net per ensemble member."""

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
        """The training callbacks (see :func:`.callbacks.training_callbacks`)."""
        return training_callbacks(self, steps_per_epoch, validate, checkpoint, max_lr)

    def _user_callbacks(self) -> list:
        """The ``callbacks`` parameter as ``(name, callback)`` pairs."""
        return user_callbacks(self.callbacks)

    def _new_net(self, module, seed, *, lr, max_epochs, train_split, callbacks):
        """A skorch net around ``module`` with this estimator's training settings.

        See :func:`.nets.new_net`; ``lr`` applies to every parameter but an atom
        encoder's (see :meth:`_learning_rates`).
        """
        param_groups, _ = self._learning_rates(module, lr)
        return new_net(
            self,
            module,
            seed,
            lr=lr,
            max_epochs=max_epochs,
            train_split=train_split,
            callbacks=callbacks,
            param_groups=param_groups,
        )

    @staticmethod
    def _plain_net(net) -> DOSNeuralNet:
        """An accelerated network as a plain ``DOSNeuralNet`` (see :func:`.nets.plain_net`)."""
        return plain_net(net)

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
        valid = None
        if X_valid is not None:
            valid_inputs = self._inputs(X_valid)
            valid = (valid_inputs, self._scaled_targets(y_valid, len(valid_inputs), "y_valid"))
        split = self._split(len(inputs), rng) if valid is None else None
        folder = None
        if self._checkpoint_dir is not None:
            folder = CheckpointFolder(self._checkpoint_dir)
            # A fit without an integer random_state resumes with the seeds and split it
            # drew the first time.
            data = self._fit_digest(inputs, Y, valid, y_valid)
            seeds, split = folder.open(fingerprint(self, data), seeds, split)
        train_set, valid_set = self._datasets(inputs, targets, valid, split)
        self._learn_from_training(train_set.inputs)
        steps_per_epoch = math.ceil(len(train_set) / self.batch_size)
        self.nets_ = [
            self._fit_member(i, seeds, folder, in_features, train_set, valid_set, steps_per_epoch)
            for i in range(len(seeds))
        ]
        self.net_ = self.nets_[0]
        self.n_epochs_ = len(self.net_.history)
        self._warn_if_still_improving(validated=valid_set is not None)
        return self

    def _fit_digest(self, inputs, Y, valid, y_valid) -> dict:
        """What a checkpoint folder must have been written for: digests of the data."""
        return {
            "y_shape": list(Y.shape),
            "X": inputs_digest(inputs),
            "y": array_digest(Y),
            "energies": array_digest(self.energies_),
            "X_valid": None if valid is None else inputs_digest(valid[0]),
            "y_valid": None if valid is None else array_digest(y_valid),
        }

    def _datasets(self, inputs, targets, valid, split):
        """The training and validation datasets (an explicit set, a split, or none)."""
        if split is None:
            return DOSDataset(inputs, targets), DOSDataset(*valid)
        train, held_out = split
        train_set = DOSDataset(self._subset(inputs, train), targets[train])
        if not len(held_out):
            return train_set, None
        return train_set, DOSDataset(self._subset(inputs, held_out), targets[held_out])

    def _fit_member(self, i, seeds, folder, in_features, train_set, valid_set, steps_per_epoch):
        """Train ensemble member ``i`` (or load it from its finished checkpoint)."""
        seed = int(seeds[i])
        member = folder.member(i) if folder is not None else None
        checkpoint = member.checkpoint() if member is not None else None
        # Members differ only in initialisation and batch order.
        with seeded(seed, self._device):
            module = self._assemble_module(in_features, self.n_energies_)
            net = self._new_net(
                module,
                seed,
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
        return net

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
