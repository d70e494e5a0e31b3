"""Per-atom features of pretrained universal interatomic potentials (frozen).

Two potentials whose weights ship inside their wheels, so nothing is downloaded:
CHGNet and SevenNet-0. What they share (the cache, the batches, the scaling, the
sklearn API) is :class:`PotentialAtomEmbedding`; each subclass only loads its network
and runs it on a batch of structures.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._cpu import pause
from .._torch import deterministic
from .._validation import is_integer
from ._base import CACHE
from ._sites import Standardizer


def _import(module: str, option: str, extra: str):
    """``import module``, or an ImportError naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"node_features={option!r} needs the {module.split('.')[0]} package (its weights "
            f"ship inside it): pip install 'dos_estimators[{extra}]' ({error})"
        ) from error


class PotentialAtomEmbedding(BaseEstimator):
    """Frozen per-atom features of a pretrained potential, standardised on the training atoms.

    Subclasses set ``name`` (the cache key and progress label), take the parameters
    ``model``, ``standardize``, ``batch_size`` and ``verbose``, and implement
    :meth:`_features`. Features are computed once per distinct structure and cached
    (see :class:`~dos_estimators.embeddings.FeatureCache`); ``fit`` only learns the
    column means and scales of the training atoms.
    """

    name = ""

    def _features(self, structures: list) -> list[np.ndarray]:
        """The raw features of a batch of structures: one ``(n_atoms, F)`` array each."""
        raise NotImplementedError

    def _raw(self, structures) -> list[np.ndarray]:
        def compute(missing):
            batches = range(0, len(missing), self.batch_size)
            if self.verbose:
                from tqdm.auto import tqdm

                batches = tqdm(batches, desc=self.name, unit="batch")
            out = []
            for start in batches:
                # The potentials' own UserWarnings (tensor-to-scalar conversions inside
                # their forward passes) say nothing about the user's structures.
                with deterministic("cpu"), torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    out.extend(self._features(missing[start : start + self.batch_size]))
                pause()
            return out

        return CACHE.get_many((self.name.lower(), self.model), structures, compute)

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
        """Each atom's features: a list of ``(n_atoms, F)`` arrays, one per structure."""
        check_is_fitted(self, "scaler_")
        raw = self._raw(structures)
        return raw if self.scaler_ is None else self.scaler_.transform(raw)


# The parameters, attributes and errors both potentials' docstrings share.
_SHARED_DOC = """Parameters
    ----------
    model : str, default="{model}"
        {name}'s pretrained model name.
    standardize : bool, default=True
    batch_size : int, default=32
        Structures per {name} forward pass.
    verbose : bool, default=False
        A progress bar over batches.

    Attributes
    ----------
    scaler_ : Standardizer or None

    Raises
    ------
    ImportError
        If ``{package}`` is not installed; the message names the extra that installs it."""


@cache
def _chgnet(model: str):
    """The pretrained CHGNet, loaded once per process from the weights in its wheel."""
    chgnet = _import("chgnet.model", "chgnet", "chgnet")
    # CHGNet prints its size when built, whatever ``verbose`` says.
    with contextlib.redirect_stdout(io.StringIO()):
        network = chgnet.CHGNet.load(model_name=model, use_device="cpu", verbose=False)
    # An atom with no neighbour within CHGNet's 6 Å keeps the features of its element
    # passed through the layers without messages, as in our own graphs, instead of an error.
    network.graph_converter.on_isolated_atoms = "ignore"
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


class CHGNetAtomEmbedding(PotentialAtomEmbedding):
    """Per-atom features of the pretrained CHGNet, standardised on the training atoms.

    CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031, 2023) is a universal
    interatomic potential trained on the Materials Project's relaxation
    trajectories; its weights ship inside the ``chgnet`` wheel, so nothing is
    downloaded. Each atom's 64 features before CHGNet's last convolution (the ones
    it reads magnetic moments from) are its embedding: frozen, computed once per
    distinct structure and cached (see :class:`~dos_estimators.embeddings.FeatureCache`).
    ``fit`` only learns the column means and scales of the training atoms.

    {shared}
    """

    name = "CHGNet"

    def __init__(self, model="0.3.0", standardize=True, batch_size=32, verbose=False):
        self.model = model
        self.standardize = standardize
        self.batch_size = batch_size
        self.verbose = verbose

    def _features(self, structures):
        predictions = _chgnet(self.model).predict_structure(
            structures, task="e", return_atom_feas=True, batch_size=len(structures)
        )
        if isinstance(predictions, dict):
            predictions = [predictions]
        return [p["atom_fea"] for p in predictions]


@cache
def _sevennet(model: str):
    """The pretrained SevenNet, loaded once per process from the weights in its wheel.

    Returns the network and the names of its modules up to its last interaction
    block (the read-out that follows turns the features into atomic energies).
    """
    util = _import("sevenn.util", "sevennet", "sevennet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network, _ = util.model_from_checkpoint(util.pretrained_name_to_path(model))
    names = list(network._modules)
    if "reduce_input_to_hidden" not in names or network.modal_map:
        raise ValueError(
            f"SevenNetAtomEmbedding(model={model!r}): the per-atom features are read before "
            "the 'reduce_input_to_hidden' read-out of a single-fidelity SevenNet such as "
            f"'7net-0'; {model!r} "
            + ("is multi-fidelity." if network.modal_map else "has no such layer.")
        )
    network.eval()
    network.set_is_batch_data(True)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network, names[: names.index("reduce_input_to_hidden")]


class SevenNetAtomEmbedding(PotentialAtomEmbedding):
    """Per-atom invariant features of the pretrained SevenNet, standardised on the training atoms.

    SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857, 2024) is an
    equivariant (NequIP-style) universal potential trained on the Materials
    Project's relaxation trajectories; its weights ship inside the ``sevenn`` wheel,
    so nothing is downloaded. Each atom's 128 scalar (l = 0) features after the last
    of its five interaction blocks, the input of its energy read-out, are its
    embedding: frozen, computed once per distinct structure and cached.

    {shared}
    """

    name = "SevenNet"

    def __init__(self, model="7net-0", standardize=True, batch_size=32, verbose=False):
        self.model = model
        self.standardize = standardize
        self.batch_size = batch_size
        self.verbose = verbose

    def _features(self, structures):
        network, layers = _sevennet(self.model)  # first: it says which extra is missing
        unknown = sorted(
            {str(e) for s in structures for e in s.composition if e.Z not in network.type_map}
        )
        if unknown:
            raise ValueError(
                f"SevenNet model {self.model!r} was not trained on {', '.join(unknown)}."
            )
        from pymatgen.io.ase import AseAtomsAdaptor
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.data import Batch

        graphs = [
            AtomGraphData.from_numpy_dict(
                unlabeled_atoms_to_graph(
                    AseAtomsAdaptor.get_atoms(s), network.cutoff, with_shift=False
                )
            )
            for s in structures
        ]
        data = network._preprocess(Batch.from_data_list(graphs))
        for name in layers:
            data = network._modules[name](data)
        features = data["x"].numpy().astype(np.float32)
        return np.split(features, np.cumsum([len(s) for s in structures])[:-1])


CHGNetAtomEmbedding.__doc__ = CHGNetAtomEmbedding.__doc__.format(
    shared=_SHARED_DOC.format(model="0.3.0", name="CHGNet", package="chgnet")
)
SevenNetAtomEmbedding.__doc__ = SevenNetAtomEmbedding.__doc__.format(
    shared=_SHARED_DOC.format(model="7net-0", name="SevenNet", package="sevenn")
)
