"""``DOSVectorRegressor``: the DOS heads on any feature matrix, e.g. matminer features."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import validate_data

from ..nn import FeatureDOSNetwork
from .base import DOSRegressorBase
from .validation import Flag, Integer


class DOSVectorRegressor(DOSRegressorBase):
    """Predict a DOS from a feature vector per crystal.

    A perceptron turns each row of ``X`` into a crystal vector; the DOS is then
    read out by the same heads as the structure baselines: pointwise from
    ``[energy embedding ‖ crystal vector]`` (``use_energy=True``) or as a whole
    vector. Put a scaler before it in a ``Pipeline``: the network sees ``X`` as is.

    Parameters
    ----------
    use_energy : bool, default=True
        Pointwise head (True) or whole-vector head (False).
    hidden : int, default=128
    n_layers : int, default=2
        Layers of the feature perceptron.
    dropout : float, default=0.0
    lr : float, default=2e-3
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay : float, default=1e-4
    batch_size : int, default=32
    max_epochs : int, default=200
    patience : int or None, default=25
    validation_fraction : float or None, default=0.1
    n_ensemble : int, default=1
    device : str, default="cpu"
        A torch device (``"cuda"``, ``"cuda:1"``), or ``"accelerate"``: training through
        Hugging Face accelerate, data parallel on the GPUs ``accelerate launch`` starts
        one process for (the ``accelerate`` extra; user guide, "Several GPUs").
    callbacks : list of skorch callbacks, optional
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    checkpoint_dir : str, os.PathLike or None, default=None
        Folder where a killed fit resumes from; as for
        :class:`~dos_estimators.DOSTransformerRegressor`.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray of str
        Present when ``X`` was a DataFrame with string column names.
    nets_, net_, n_energies_, n_epochs_, y_scale_
        As for the structure regressors.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 5)), rng.random((20, 51))
    >>> DOSVectorRegressor(max_epochs=2, random_state=0).fit(X, y).predict(X).shape
    (20, 51)
    """

    def __init__(
        self,
        use_energy=True,
        hidden=128,
        n_layers=2,
        dropout=0.0,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=200,
        patience=25,
        validation_fraction=0.1,
        n_ensemble=1,
        device="cpu",
        callbacks=None,
        random_state=None,
        verbose=0,
        checkpoint_dir=None,
    ):
        self.use_energy = use_energy
        self.hidden = hidden
        self.n_layers = n_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_ensemble = n_ensemble
        self.device = device
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    _parameter_constraints = {"use_energy": Flag(), "hidden": Integer(1), "n_layers": Integer(1)}

    def _inputs(self, X, fitting=False, y=None, energies=None):
        X = validate_data(self, X, reset=fitting, dtype=np.float32)
        # torch shares the array's memory and warns when it is read-only (a memory map).
        return torch.from_numpy(X if X.flags.writeable else X.copy())

    def _input_width(self, inputs):
        return inputs.shape[1]

    def _build_module(self, in_features, n_energies):
        return FeatureDOSNetwork(
            in_features,
            n_energies,
            hidden=self.hidden,
            n_layers=self.n_layers,
            use_energy=bool(self.use_energy),
            dropout=self.dropout,
        )
