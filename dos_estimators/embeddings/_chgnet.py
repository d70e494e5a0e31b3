"""Per-atom features of the pretrained CHGNet universal potential (frozen)."""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._torch import deterministic
from .._validation import is_integer
from ._base import CACHE
from ._sites import Standardizer

_EXTRA = "pip install 'dos_estimators[chgnet]'"


@cache
def _chgnet(model: str):
    """The pretrained CHGNet, loaded once per process from the weights in its wheel."""
    try:
        from chgnet.model import CHGNet
    except ImportError as error:
        raise ImportError(
            f"node_features='chgnet' needs the chgnet package (its weights ship inside it): "
            f"{_EXTRA}"
        ) from error
    # CHGNet prints its size when built, whatever ``verbose`` says.
    with contextlib.redirect_stdout(io.StringIO()):
        network = CHGNet.load(model_name=model, use_device="cpu", verbose=False)
    # An atom with no neighbour within CHGNet's 6 Å keeps the features of its element
    # passed through the layers without messages, as in our own graphs, instead of an error.
    network.graph_converter.on_isolated_atoms = "ignore"
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


class CHGNetAtomEmbedding(BaseEstimator):
    """Per-atom features of the pretrained CHGNet, standardised on the training atoms.

    CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031, 2023) is a universal
    interatomic potential trained on the Materials Project's relaxation
    trajectories; its weights ship inside the ``chgnet`` wheel, so nothing is
    downloaded. Each atom's 64 features before CHGNet's last convolution (the ones
    it reads magnetic moments from) are its embedding: frozen, computed once per
    distinct structure and cached (see :class:`~dos_estimators.embeddings.FeatureCache`).
    ``fit`` only learns the column means and scales of the training atoms.

    Parameters
    ----------
    model : str, default="0.3.0"
        CHGNet's pretrained model name.
    standardize : bool, default=True
    batch_size : int, default=32
        Structures per CHGNet forward pass.
    verbose : bool, default=False
        A progress bar over batches.

    Attributes
    ----------
    scaler_ : Standardizer or None

    Raises
    ------
    ImportError
        If ``chgnet`` is not installed; the message names the extra that installs it.
    """

    def __init__(self, model="0.3.0", standardize=True, batch_size=32, verbose=False):
        self.model = model
        self.standardize = standardize
        self.batch_size = batch_size
        self.verbose = verbose

    def _raw(self, structures) -> list[np.ndarray]:
        def compute(missing):
            network = _chgnet(self.model)
            batches = range(0, len(missing), self.batch_size)
            if self.verbose:
                from tqdm.auto import tqdm

                batches = tqdm(batches, desc="CHGNet", unit="batch")
            out = []
            for start in batches:
                chunk = missing[start : start + self.batch_size]
                # CHGNet's own UserWarnings (tensor-to-scalar conversions inside its
                # forward pass) say nothing about the user's structures.
                with deterministic("cpu"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    predictions = network.predict_structure(
                        chunk, task="e", return_atom_feas=True, batch_size=len(chunk)
                    )
                if isinstance(predictions, dict):
                    predictions = [predictions]
                out.extend(p["atom_fea"] for p in predictions)
            return out

        return CACHE.get_many(("chgnet", self.model), structures, compute)

    def fit(self, structures, y=None):
        """Learn the means and scales of the training atoms' features."""
        if not (is_integer(self.batch_size) and self.batch_size >= 1):
            raise ValueError(
                f"batch_size must be an integer of at least 1, got {self.batch_size!r}."
            )
        raw = self._raw(structures)
        self.scaler_ = Standardizer().fit(raw) if self.standardize else None
        return self

    def transform(self, structures) -> list[np.ndarray]:
        """Each atom's 64 CHGNet features: a list of ``(n_atoms, 64)`` arrays."""
        check_is_fitted(self, "scaler_")
        raw = self._raw(structures)
        return raw if self.scaler_ is None else self.scaler_.transform(raw)
