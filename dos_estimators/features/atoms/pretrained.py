"""Per-atom features of pretrained universal interatomic potentials, frozen or fine-tuned.

Two potentials whose weights ship inside their wheels, so nothing is downloaded:
CHGNet and SevenNet-0. What they share (the cache, the batches, the scaling, the
sklearn API, fine-tuning) is :class:`PotentialAtomEmbedding`; each subclass only
loads its network, turns structures into the network's own graphs and runs the
network on a list of them.

Frozen, the features are computed once per distinct structure and cached. With
``fine_tune`` above zero, :meth:`PotentialAtomEmbedding.encoder` gives a copy of the
potential as a :class:`PotentialEncoder`, which an estimator puts inside its network
(see :func:`dos_estimators.nn.with_encoded_atoms`) and trains with it at a fraction of
its learning rate; it starts from exactly the frozen, standardised features.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from functools import cache

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..._cpu import pause
from ..._torch import deterministic
from ..._validation import is_integer, is_real
from .learned import Standardizer
from .union import CACHE


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


class PotentialEncoder(torch.nn.Module):
    """A pretrained potential inside a network: standardised per-atom features, trainable.

    Parameters
    ----------
    network : torch.nn.Module
        The potential (a copy; its weights train).
    encode : callable
        ``encode(network, graphs) -> Tensor [n_atoms, F]``: the features of the atoms
        of a list of the potential's graphs, in order.
    mean, scale : numpy.ndarray of shape (F,)
        The training atoms' frozen column means and scales (zeros and ones for
        unstandardised features).
    lr_ratio : float
        The potential's learning rate as a fraction of the network's.
    """

    def __init__(self, network, encode, mean, scale, lr_ratio: float):
        super().__init__()
        self.network = network
        self.encode = encode
        self.lr_ratio = float(lr_ratio)
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    @property
    def n_features(self) -> int:
        """Columns it adds per atom."""
        return int(self.mean.numel())

    def forward(self, graphs: list) -> torch.Tensor:
        """Features ``[n_atoms, F]`` of the atoms of ``graphs`` (the potential's graphs)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            features = self.encode(self.network, graphs)
        return (features - self.mean) / self.scale


class PotentialAtomEmbedding(BaseEstimator):
    """Per-atom features of a pretrained potential, standardised on the training atoms.

    Subclasses set ``name`` (the cache key and progress label), take the parameters
    ``model``, ``standardize``, ``fine_tune``, ``batch_size`` and ``verbose``, and
    implement :meth:`_network`, :meth:`_graphs` and :meth:`_encode`. Frozen
    features are computed once per distinct structure and cached (see
    :class:`~dos_estimators.features.FeatureCache`); ``fit`` only learns the column
    means and scales of the training atoms.
    """

    name = ""
    # Objects pickled or saved before fine-tuning existed have no such attribute.
    fine_tune = 0.0

    def _network(self) -> torch.nn.Module:
        """The pretrained network, frozen, loaded once per process."""
        raise NotImplementedError

    def _graphs(self, structures: list) -> list:
        """The network's own input for each structure (its crystal graph)."""
        raise NotImplementedError

    @staticmethod
    def _encode(network: torch.nn.Module, graphs: list) -> torch.Tensor:
        """Features ``[n_atoms, F]`` of the atoms of ``graphs``, on the network's device."""
        raise NotImplementedError

    def _features(self, structures: list) -> list[np.ndarray]:
        """The frozen features of a batch of structures: one ``(n_atoms, F)`` array each."""
        features = self._encode(self._network(), self._graphs(structures)).cpu().numpy()
        return np.split(features.astype(np.float32), np.cumsum([len(s) for s in structures])[:-1])

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
        """Learn the means and scales of the training atoms' (pretrained) features."""
        if not (is_integer(self.batch_size) and self.batch_size >= 1):
            raise ValueError(
                f"batch_size must be an integer of at least 1, got {self.batch_size!r}."
            )
        if not (is_real(self.fine_tune) and 0 <= self.fine_tune < float("inf")):
            raise ValueError(
                "fine_tune must be a non-negative number (the potential's learning rate as "
                f"a fraction of the estimator's; 0 keeps it frozen), got {self.fine_tune!r}."
            )
        raw = self._raw(structures)
        self.n_features_out_ = int(raw[0].shape[1]) if raw else 0
        self.scaler_ = Standardizer().fit(raw) if self.standardize else None
        return self

    def transform(self, structures) -> list[np.ndarray]:
        """Each atom's pretrained features: a list of ``(n_atoms, F)`` arrays, one per structure.

        Always the frozen features, also with ``fine_tune``: the fine-tuned copy of the
        potential lives in the estimator's network (see :meth:`encoder`).
        """
        check_is_fitted(self, "scaler_")
        raw = self._raw(structures)
        return raw if self.scaler_ is None else self.scaler_.transform(raw)

    def encoder(self) -> PotentialEncoder | None:
        """A trainable copy of the potential for an estimator's network, or None when frozen.

        Returns
        -------
        PotentialEncoder or None
            None with ``fine_tune=0``. Otherwise a new copy of the pretrained network with
            the fitted means and scales: before training it gives exactly
            :meth:`transform`'s features, from the graphs of :meth:`encoder_inputs`.
        """
        check_is_fitted(self, "scaler_")
        if not self.fine_tune:
            return None
        network = copy.deepcopy(self._network())
        network.requires_grad_(True)
        if self.scaler_ is None:
            mean, scale = np.zeros(self.n_features_out_), np.ones(self.n_features_out_)
        else:
            mean, scale = self.scaler_.mean_, self.scaler_.scale_
        return PotentialEncoder(network, type(self)._encode, mean, scale, self.fine_tune)

    def encoder_inputs(self, structures) -> list:
        """What :meth:`encoder` reads for each structure: the potential's own graph of it."""
        return self._graphs(list(structures))


# The parameters, attributes and errors both potentials' docstrings share.
_SHARED_DOC = """Parameters
    ----------
    model : str, default="{model}"
        {name}'s pretrained model name.
    standardize : bool, default=True
    fine_tune : float, default=0.0
        {name}'s learning rate inside an estimator's network, as a fraction of the
        estimator's ``lr``. ``0`` keeps {name} frozen: its features are computed once
        per structure and cached. Above zero, an estimator given these node features
        puts a copy of {name} inside its network, starting from the pretrained
        weights and the frozen features, and trains it with the rest (on the
        estimator's learning-rate schedule): a {name} forward and backward pass per
        batch, several times slower than frozen (``docs/embeddings.md`` gives the
        measured times; for CHGNet on the phonon set ``1.0`` did better than ``0.1``).
        :meth:`transform` always gives the frozen features.
    batch_size : int, default=32
        Structures per {name} forward pass (frozen features).
    verbose : bool, default=False
        A progress bar over batches.

    Attributes
    ----------
    scaler_ : Standardizer or None
    n_features_out_ : int
        Columns per atom.

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
    it reads magnetic moments from) are its embedding. With ``fine_tune=0`` they are
    frozen, computed once per distinct structure and cached (see
    :class:`~dos_estimators.features.FeatureCache`), and ``fit`` only learns the
    column means and scales of the training atoms; with ``fine_tune > 0`` a copy of
    CHGNet trains inside the estimator's network.

    {shared}
    """

    name = "CHGNet"

    def __init__(
        self, model="0.3.0", standardize=True, fine_tune=0.0, batch_size=32, verbose=False
    ):
        self.model = model
        self.standardize = standardize
        self.fine_tune = fine_tune
        self.batch_size = batch_size
        self.verbose = verbose

    def _network(self):
        return _chgnet(self.model)

    def _graphs(self, structures):
        converter = self._network().graph_converter
        # CHGNet embeds elements 1-94; a heavier one would fail inside its embedding.
        unknown = sorted({str(e) for s in structures for e in s.composition if e.Z > 94})
        if unknown:
            raise ValueError(
                f"CHGNet model {self.model!r} was not trained on {', '.join(unknown)} "
                "(it covers elements 1-94)."
            )
        return [converter(structure) for structure in structures]

    @staticmethod
    def _encode(network, graphs):
        # CHGNet's own forward pass reads these features out midway and then still runs
        # the bond and angle updates of that round, its last convolution and its energy
        # read-out, none of which they depend on. Running only the layers up to them
        # gives the same numbers and gradients with less work (docs/embeddings.md).
        from chgnet.model.model import BatchedGraph

        device = next(network.parameters()).device
        g = BatchedGraph.from_graphs(
            [graph.to(device) for graph in graphs],
            bond_basis_expansion=network.bond_basis_expansion,
            angle_basis_expansion=network.angle_basis_expansion,
            compute_stress=False,
        )
        atoms = network.atom_embedding(g.atomic_numbers - 1)  # H is column 0
        bonds = network.bond_embedding(g.bond_bases_ag)
        bond_weights_ag = network.bond_weights_ag(g.bond_bases_ag)
        has_angles = len(g.angle_bases) != 0
        if has_angles:
            bond_weights_bg = network.bond_weights_bg(g.bond_bases_bg)
            angles = network.angle_embedding(g.angle_bases)
        last = network.n_conv - 2  # the round the features are read after
        for idx in range(last + 1):
            atoms = network.atom_conv_layers[idx](
                atom_feas=atoms,
                bond_feas=bonds,
                bond_weights=bond_weights_ag,
                atom_graph=g.batched_atom_graph,
                directed2undirected=g.directed2undirected,
            )
            bond_layer, angle_layer = network.bond_conv_layers[idx], network.angle_layers[idx]
            if idx == last or not has_angles or bond_layer is None:
                continue
            bonds = bond_layer(
                atom_feas=atoms,
                bond_feas=bonds,
                bond_weights=bond_weights_bg,
                angle_feas=angles,
                bond_graph=g.batched_bond_graph,
            )
            if angle_layer is not None:
                angles = angle_layer(
                    atom_feas=atoms,
                    bond_feas=bonds,
                    angle_feas=angles,
                    bond_graph=g.batched_bond_graph,
                )
        return atoms


def _sevennet_layers(network) -> list[str]:
    """The names of SevenNet's modules up to its last interaction block.

    The read-out that follows them turns the features into atomic energies.
    """
    names = list(network._modules)
    return names[: names.index("reduce_input_to_hidden")]


@cache
def _sevennet(model: str):
    """The pretrained SevenNet (:func:`...phonons.sevennet_model`), checked for features."""
    _import("sevenn.util", "sevennet", "sevennet")  # an ImportError naming the extra
    from ...phonons import sevennet_model

    network = sevennet_model(model)
    names = list(network._modules)
    if "reduce_input_to_hidden" not in names or network.modal_map:
        raise ValueError(
            f"SevenNetAtomEmbedding(model={model!r}): the per-atom features are read before "
            "the 'reduce_input_to_hidden' read-out of a single-fidelity SevenNet such as "
            f"'7net-0'; {model!r} "
            + ("is multi-fidelity." if network.modal_map else "has no such layer.")
        )
    return network


class SevenNetAtomEmbedding(PotentialAtomEmbedding):
    """Per-atom invariant features of the pretrained SevenNet, standardised on the training atoms.

    SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857, 2024) is an
    equivariant (NequIP-style) universal potential trained on the Materials
    Project's relaxation trajectories; its weights ship inside the ``sevenn`` wheel,
    so nothing is downloaded. Each atom's 128 scalar (l = 0) features after the last
    of its five interaction blocks, the input of its energy read-out, are its
    embedding. With ``fine_tune=0`` they are frozen, computed once per distinct
    structure and cached; with ``fine_tune > 0`` a copy of SevenNet trains inside the
    estimator's network.

    {shared}
    """

    name = "SevenNet"

    def __init__(
        self, model="7net-0", standardize=True, fine_tune=0.0, batch_size=32, verbose=False
    ):
        self.model = model
        self.standardize = standardize
        self.fine_tune = fine_tune
        self.batch_size = batch_size
        self.verbose = verbose

    def _network(self):
        return _sevennet(self.model)

    def _graphs(self, structures):
        network = self._network()  # first: it says which extra is missing
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

        return [
            AtomGraphData.from_numpy_dict(
                unlabeled_atoms_to_graph(
                    AseAtomsAdaptor.get_atoms(s), network.cutoff, with_shift=False
                )
            )
            for s in structures
        ]

    @staticmethod
    def _encode(network, graphs):
        from torch_geometric.data import Batch

        device = next(network.parameters()).device
        data = network._preprocess(Batch.from_data_list(list(graphs)).to(device))
        for name in _sevennet_layers(network):
            data = network._modules[name](data)
        return data["x"]


CHGNetAtomEmbedding.__doc__ = CHGNetAtomEmbedding.__doc__.format(
    shared=_SHARED_DOC.format(model="0.3.0", name="CHGNet", package="chgnet")
)
SevenNetAtomEmbedding.__doc__ = SevenNetAtomEmbedding.__doc__.format(
    shared=_SHARED_DOC.format(model="7net-0", name="SevenNet", package="sevenn")
)
