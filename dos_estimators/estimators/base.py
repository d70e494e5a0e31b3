"""Shared machinery of the structure-input DOS regressors.

A scikit-learn estimator checks its input once, builds crystal graphs and
hands training to a skorch ``NeuralNet`` (validation split, early stopping
with best-weights restore, one-cycle learning rate, progress output).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from skorch.helper import predefined_split
from torch.utils.data import Dataset

from ..features import element_table
from ..graphs import CRYSTAL_ATTR_NAMES, collate_graphs, structures_to_graphs
from ..metrics import r2
from ..nn import DOSTransformerLoss
from ..structures import check_structures

PREDICT_BATCH_SIZE = 256


class GraphDataset(Dataset):
    """Crystal graphs with optional DOS targets, for skorch's data loaders.

    Parameters
    ----------
    graphs : list of torch_geometric.data.Data
    targets : torch.Tensor of shape [n_samples, n_energies], optional
        Without targets each item pairs the graph with an empty tensor.
    """

    def __init__(self, graphs, targets: torch.Tensor | None = None):
        self.graphs = graphs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i):
        target = self.targets[i] if self.targets is not None else torch.empty(0)
        return self.graphs[i], target


class GraphNeuralNet(NeuralNet):
    """skorch ``NeuralNet`` whose batches are PyG ``Batch`` objects."""

    def infer(self, x, **fit_params):
        return self.module_(x.to(self.device), **fit_params)


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
        If rows are ragged, ``y`` is not two-dimensional, holds NaN, infinite
        or negative values, or its row count differs from ``n_samples``.
    """
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
    return Y


@contextmanager
def seeded(seed: int, device: str):
    """Run a block with torch's global generators seeded, then restore them."""
    devices = [torch.device(device)] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class GraphDOSRegressor(RegressorMixin, BaseEstimator):
    """Base class: a DOS regressor on crystal structures trained with skorch.

    Subclasses list their parameters in ``__init__`` (scikit-learn convention)
    and implement :meth:`_build_module`; they may override
    :meth:`_build_criterion` and :meth:`_annotate_graphs`.

    Subclass parameters used here: ``cutoff``, ``node_features``, ``lr``,
    ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``,
    ``validation_fraction``, ``n_ensemble``, ``device``, ``callbacks``,
    ``random_state``, ``verbose``.
    """

    # -- hooks -------------------------------------------------------------
    def _build_module(self, in_features: int, n_energies: int) -> torch.nn.Module:
        raise NotImplementedError

    def _build_criterion(self) -> torch.nn.Module:
        """The training loss; RMSE over the batch unless a subclass says otherwise."""
        return DOSTransformerLoss()

    def _annotate_graphs(self, structures, graphs, fitting: bool) -> None:
        """Attach extra per-crystal attributes to the graphs (in place)."""

    def _configure_module(self, module: torch.nn.Module) -> None:
        """Set state learned from the training data on a new module."""

    # -- helpers -----------------------------------------------------------
    def _check_params(self) -> None:
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {self.cutoff}.")
        if not (self.batch_size >= 1 and self.max_epochs >= 1):
            raise ValueError(
                f"batch_size and max_epochs must be at least 1, got {self.batch_size} "
                f"and {self.max_epochs}."
            )
        if not (isinstance(self.n_ensemble, (int, np.integer)) and self.n_ensemble >= 1):
            raise ValueError(
                f"n_ensemble must be an integer of at least 1, got {self.n_ensemble!r}."
            )
        fraction = self.validation_fraction
        if fraction is not None and not 0 <= fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}.")
        element_table(self.node_features)  # raises on an unknown name

    def _graphs(self, X, fitting: bool = False):
        structures = check_structures(X)
        graphs = structures_to_graphs(
            structures, cutoff=self.cutoff, node_features=self.node_features, verbose=self.verbose
        )
        self._annotate_graphs(structures, graphs, fitting)
        return structures, graphs

    def _split(self, n_samples: int, rng: np.random.RandomState):
        fraction = self.validation_fraction or 0.0
        n_valid = math.ceil(fraction * n_samples) if fraction > 0 else 0
        if n_valid and n_samples - n_valid < 1:
            raise ValueError(
                f"validation_fraction={fraction} leaves no training sample out of {n_samples}."
            )
        order = rng.permutation(n_samples)
        return order[n_valid:], order[:n_valid]

    def _callbacks(self, steps_per_epoch: int, validate: bool) -> list:
        callbacks = [
            (
                "lr_schedule",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.OneCycleLR,
                    max_lr=self.lr,
                    total_steps=self.max_epochs * steps_per_epoch,
                    pct_start=0.1,
                    step_every="batch",
                ),
            )
        ]
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
        if self.verbose and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, callback in enumerate(self.callbacks or []):
            name = callback[0] if isinstance(callback, tuple) else f"user_{i}"
            callbacks.append(callback if isinstance(callback, tuple) else (name, callback))
        return callbacks

    # -- scikit-learn API --------------------------------------------------
    def fit(self, X, y, *, X_valid=None, y_valid=None):
        """Train on crystals and their DOS.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
            ``n_samples`` crystals.
        y : array-like of shape (n_samples, n_energies)
            DOS of each crystal on a common grid of any length.
        X_valid, y_valid : optional
            An explicit validation set for early stopping. Without it,
            ``validation_fraction`` of ``X`` is held out at random.

        Returns
        -------
        self
        """
        self._check_params()
        structures, graphs = self._graphs(X, fitting=True)
        Y = check_targets(y, len(structures))
        self.n_energies_ = Y.shape[1]
        # One global scale keeps targets of order one whatever the DOS units.
        self.y_scale_ = float(Y.max()) if Y.max() > 0 else 1.0
        targets = torch.as_tensor(Y / self.y_scale_, dtype=torch.float32)
        self.n_node_features_ = graphs[0].x.shape[1]

        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_ensemble)
        if (X_valid is None) != (y_valid is None):
            raise ValueError("Pass both X_valid and y_valid, or neither.")
        if X_valid is not None:
            _, valid_graphs = self._graphs(X_valid)
            Y_valid = check_targets(y_valid, len(valid_graphs))
            if Y_valid.shape[1] != self.n_energies_:
                raise ValueError(
                    f"y_valid has {Y_valid.shape[1]} energies but y has {self.n_energies_}."
                )
            valid_targets = torch.as_tensor(Y_valid / self.y_scale_, dtype=torch.float32)
            train_set = GraphDataset(graphs, targets)
            valid_set = GraphDataset(valid_graphs, valid_targets)
            n_train = len(graphs)
        else:
            train, valid = self._split(len(graphs), rng)
            train_set = GraphDataset([graphs[i] for i in train], targets[train])
            valid_set = (
                GraphDataset([graphs[i] for i in valid], targets[valid]) if len(valid) else None
            )
            n_train = len(train)
        steps_per_epoch = math.ceil(n_train / self.batch_size)

        self.nets_ = []
        for seed in seeds:
            # Members differ only in initialisation and batch order.
            with seeded(int(seed), self.device):
                module = self._build_module(self.n_node_features_, self.n_energies_)
                self._configure_module(module)
                net = GraphNeuralNet(
                    module=module,
                    criterion=self._build_criterion(),
                    optimizer=torch.optim.AdamW,
                    lr=self.lr,
                    optimizer__weight_decay=self.weight_decay,
                    max_epochs=self.max_epochs,
                    batch_size=self.batch_size,
                    iterator_train__shuffle=True,
                    iterator_train__collate_fn=collate_graphs,
                    iterator_train__generator=torch.Generator().manual_seed(int(seed)),
                    iterator_valid__collate_fn=collate_graphs,
                    # Inference needs no small batches: larger ones predict faster.
                    iterator_valid__batch_size=max(self.batch_size, PREDICT_BATCH_SIZE),
                    train_split=predefined_split(valid_set) if valid_set is not None else None,
                    callbacks=self._callbacks(steps_per_epoch, validate=valid_set is not None),
                    device=self.device,
                    verbose=int(self.verbose),
                )
                net.fit(train_set, None)
            # The validation graphs are not needed after training; do not pickle them.
            net.train_split = None
            self.nets_.append(net)
        self.net_ = self.nets_[0]
        self.n_epochs_ = len(self.net_.history)
        return self

    def _predict_graphs(self, graphs) -> np.ndarray:
        dataset = GraphDataset(graphs)
        prediction = np.mean([net.predict(dataset) for net in self.nets_], axis=0)
        return np.clip(prediction * self.y_scale_, 0.0, None)

    def predict(self, X) -> np.ndarray:
        """Predict the DOS of crystals.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_energies)
            Non-negative, on the training grid.
        """
        check_is_fitted(self, "net_")
        _, graphs = self._graphs(X)
        return self._predict_graphs(graphs)

    def score(self, X, y, sample_weight=None) -> float:
        """R² of the flattened predictions (the DOSTransformer paper's convention).

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
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
        return r2(Y, prediction)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags


__all__ = [
    "CRYSTAL_ATTR_NAMES",
    "GraphDOSRegressor",
    "GraphDataset",
    "GraphNeuralNet",
    "check_targets",
]
