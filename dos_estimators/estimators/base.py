"""The base classes of the DOS regressors: the scikit-learn contract and its hooks.

A regressor checks its input once, turns it into crystal graphs (:mod:`.graph_inputs`)
or feature tensors, and trains one skorch net per ensemble member (:mod:`.training`,
:mod:`.nets`, :mod:`.callbacks`, :mod:`.checkpoint`); it writes and reads its own model
files (:mod:`.persistence`). Checks of its input and parameters are :mod:`.validation`'s.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import default_collate

from .._cpu import cpu_turns
from .._torch import deterministic
from ..features.atoms import check_node_features
from ..features.crystal import check_crystal_features
from ..graphs import CRYSTAL_ATTR_NAMES, collate_graphs
from ..metrics import r2_pooled
from ..nn import DOSTransformerLoss
from ..nn.layers import POOLINGS
from ..structures import check_structures
from . import persistence
from .graph_inputs import default_descriptors, fit_graph_inputs, graph_inputs
from .nets import ACCELERATE, DOSDataset, DOSNeuralNet, require_accelerate
from .prior import check_prior
from .training import TrainingMixin
from .validation import (
    Integer,
    Interval,
    OneOf,
    Optional,
    check_checkpoint_dir,
    check_energies,
    check_parameters,
    check_return_std,
    check_targets,
)


class DOSRegressorBase(TrainingMixin, RegressorMixin, BaseEstimator):
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
    # What each parameter may be; subclasses add theirs (checked by :meth:`_check_params`;
    # a parameter a subclass does not have is not checked).
    _parameter_constraints = {
        "batch_size": Integer(1),
        "max_epochs": Integer(1),
        "n_ensemble": Integer(1),
        "validation_fraction": Optional(Interval(0.0, True, 1.0)),
        "lr": Interval(0.0, False),
        "weight_decay": Interval(0.0, True),
        "dropout": Interval(0.0, True, 1.0),
        "beta": Interval(0.0, True),
        "symprec": Interval(0.0, False),
        "patience": Optional(Integer(0)),
        "pooling": OneOf(POOLINGS),
    }

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

    def _learn_from_training(self, inputs) -> None:
        """Learn what the modules need from the training inputs (not the validation part)."""

    # -- helpers -----------------------------------------------------------
    def _check_params(self) -> None:
        """Check every constructor parameter, before any input is looked at.

        The declared ``_parameter_constraints`` first; subclasses extend it with checks
        that involve several parameters.
        """
        check_parameters(self)
        if self.device == ACCELERATE:
            require_accelerate()
        check_checkpoint_dir(self._checkpoint_dir, accelerated=self.device == ACCELERATE)

    def validate_params(self) -> None:
        """Check the constructor parameters now, as ``fit`` does first.

        Raises
        ------
        ValueError
            Naming the first parameter that is out of range or of the wrong type.
        """
        self._check_params()

    @property
    def _checkpoint_dir(self):
        return getattr(self, "checkpoint_dir", None)

    @property
    def _device(self) -> torch.device:
        """The device this process computes on (accelerate's choice for ``"accelerate"``)."""
        if self.device == ACCELERATE:
            return require_accelerate().PartialState().device
        return torch.device(self.device)

    def _turns(self):
        """The block in which a fit or prediction takes its turns on the CPU cores, if on.

        Never for processes launched by accelerate (see :func:`.._cpu.cpu_turns`).
        """
        return cpu_turns(self._device, share=self.device != ACCELERATE)

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

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If ``max_epochs`` ended the training of a network whose last epoch was
            its best (validation loss, or training loss without validation).

        Notes
        -----
        With ``checkpoint_dir`` set, each network's training state is saved after every
        epoch, and a fit with the same parameters and data resumes from it: networks
        that finished are loaded without training, the others continue after their
        last saved epoch.

        A fit that raises (bad data, a failing training step or callback) leaves the
        estimator as it was before: its earlier fitted state whole, or unfitted. (skorch
        ends a network's training quietly on Ctrl-C; the fit then goes on.)

        The machine: torch's own threads, and nothing else unless the environment sets
        ``DOS_ESTIMATORS_CPU_LOCKS`` (off by default); then fits and predictions hold
        their cores through per-user lock files, and a fit hands them to a waiting one
        every half second (``docs/performance.md``).
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
        check_return_std(return_std, len(self.nets_))
        with self._turns():
            return self._predict_inputs(self._inputs(X), return_std=return_std)

    def save(self, path, *, notes=None) -> None:
        """Write the fitted model to one file, without pickle.

        Reload it with :meth:`load` or :func:`dos_estimators.load_model`. The file
        (safetensors, with the parameters and fitted attributes as JSON in its header, a
        format version and a sha256 checksum) is described in ``docs/model_files.md``.

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
        persistence.save(self, path, notes=notes)

    @classmethod
    def load(cls, path, *, device=None):
        """A fitted model from a file written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or os.PathLike
        device : str, optional
            Put the networks on this device instead of the saved ``device`` parameter.

        Returns
        -------
        DOSRegressorBase
            An instance of the class the file names, which must be ``cls`` or a subclass
            of it (``DOSRegressorBase.load`` takes any of the package's regressors
            imported so far; :func:`dos_estimators.load_model` imports them all).

        Raises
        ------
        ValueError
            As :func:`dos_estimators.load_model`, and if the file holds another class.
        """
        return persistence.load(path, device=device, expected=cls)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The package's concrete regressors are the classes a model file may name.
        persistence.register(cls)

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
    _abstract = True  # not a regressor of its own: model files never name it
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
            # What the node features, crystal attributes and prior are is decided here,
            # once; predict reads these fitted attributes, never the parameters again.
            fit_graph_inputs(self, structures, y, energies)
        # None: the grid the prior was fitted on.
        graphs = graph_inputs(self, structures, None if fitting else energies)
        self._annotate_graphs(structures, graphs, fitting)
        return graphs

    def graphs(self, X) -> list:
        """The fitted model's network inputs for ``X``, as ``predict`` builds them.

        Returns
        -------
        list of torch_geometric.data.Data
            One graph per structure (``x`` [n_atoms, F], ``crystal_attr`` [1, C], ...):
            ``net_.predict(DOSDataset(graphs))`` is one member's scaled prediction.
        """
        check_is_fitted(self, "net_")
        return self._inputs(X)

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
        return getattr(self, "n_crystal_attr_", default_descriptors(self))

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
    "check_energies",
    "check_targets",
]
