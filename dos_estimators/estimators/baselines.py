"""The DOSTransformer paper's baselines behind the scikit-learn API.

An MLP on atoms, the graph network and the E3NN equivariant network, each in
the paper's two forms: the whole DOS read from the crystal vector
(``use_energy=False``, "energy ✗") or one energy at a time from
``φ([E_j ‖ g])`` (``use_energy=True``, "energy ✓").
"""

from __future__ import annotations

from ..nn import E3NNDOSNetwork, GraphNetworkDOSNetwork, MLPDOSNetwork
from .base import GraphDOSRegressor
from .validation import Flag, Integer

_SHARED_PARAMETERS = """\
use_energy : bool, default=False
        ``False`` maps the crystal vector to the whole DOS vector ("energy ✗");
        ``True`` learns an embedding per energy and predicts each energy's value
        from ``[energy embedding ‖ crystal vector]`` ("energy ✓").
    pooling : {{"sum", "mean"}}, default={pooling!r}
        Atom pooling into the crystal vector.
    composition_stats : bool, default=False
        Add Magpie-style statistics of the element features to the crystal
        vector (off in the paper's baselines).
    node_features : str, node-feature object or list of these, default={node_features!r}
        Element table, atom embedding or a list of these, as for
        :class:`~dos_estimators.DOSTransformerRegressor`.
    crystal_features : str, transformer or None, default=None
        Crystal-level features added to the crystal vector, as for
        :class:`~dos_estimators.DOSTransformerRegressor`.
    dropout : float, default=0.0
    lr : float, default={lr}
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay : float, default={weight_decay}
    batch_size : int, default=32
    max_epochs : int, default=100
    patience : int or None, default=25
        Early-stopping patience in epochs on the validation loss; the best
        weights are restored. ``None`` or 0 trains all epochs.
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out for early stopping.
    n_ensemble : int, default=1
        Networks averaged, each trained from its own initialisation.
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
    nets_ : list of skorch.NeuralNet
    net_ : skorch.NeuralNet
        The first trained network.
    n_energies_ : int
    n_epochs_ : int
    n_node_features_ : int
    y_scale_ : float
        Largest training DOS value; the network learns ``y / y_scale_``."""


def _shared_parameters(**defaults) -> str:
    return _SHARED_PARAMETERS.format(**defaults)


class _BaselineRegressor(GraphDOSRegressor):
    """Checks and network arguments common to the three baselines."""

    _parameter_constraints = {"use_energy": Flag(), "hidden": Integer(1), "n_layers": Integer(1)}

    def _network_params(self) -> dict:
        return {
            "use_energy": bool(self.use_energy),
            "pooling": self.pooling,
            "composition_stats": self.composition_stats,
            "n_crystal_attr": self._n_crystal_attr,
            "dropout": self.dropout,
        }


class MLPDOSRegressor(_BaselineRegressor):
    """MLP baseline: a perceptron on each atom's element features, sum-pooled.

    The atoms' neighbours are never looked at, so no graph edges are built.

    Parameters
    ----------
    hidden : int, default=128
        Width of the atom embeddings and the crystal vector.
    n_layers : int, default=3
        Layers of the per-atom perceptron.
    {shared}

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> import numpy as np
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6)]
    >>> y = np.random.default_rng(0).random((4, 51))
    >>> MLPDOSRegressor(use_energy=True, max_epochs=2, random_state=0).fit(X, y).predict(X).shape
    (4, 51)
    """

    def __init__(
        self,
        use_energy=False,
        hidden=128,
        n_layers=3,
        pooling="sum",
        composition_stats=False,
        node_features="magpie",
        crystal_features=None,
        dropout=0.0,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=100,
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
        self.pooling = pooling
        self.composition_stats = composition_stats
        self.node_features = node_features
        self.crystal_features = crystal_features
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

    def _build_module(self, in_features, n_energies):
        return MLPDOSNetwork(
            in_features, n_energies, self.hidden, self.n_layers, **self._network_params()
        )


class GraphNetworkDOSRegressor(_BaselineRegressor):
    """Graph-network baseline: DOSTransformer's atom encoder, sum-pooled, then a DOS head.

    Battaglia-style edge and node updates on the periodic radius graph; the
    encoder is the one :class:`~dos_estimators.DOSTransformerRegressor` uses.

    Parameters
    ----------
    hidden : int, default=128
        Width of atom, edge and crystal vectors.
    n_layers : int, default=3
        Graph-network blocks.
    cutoff : float, default=5.0
        Neighbour cutoff in Å.
    {shared}

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> import numpy as np
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6)]
    >>> y = np.random.default_rng(0).random((4, 51))
    >>> model = GraphNetworkDOSRegressor(hidden=16, max_epochs=2, random_state=0).fit(X, y)
    >>> model.predict(X).shape
    (4, 51)
    """

    def __init__(
        self,
        use_energy=False,
        hidden=128,
        n_layers=3,
        cutoff=5.0,
        pooling="sum",
        composition_stats=False,
        node_features="magpie",
        crystal_features=None,
        dropout=0.0,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=100,
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
        self.cutoff = cutoff
        self.pooling = pooling
        self.composition_stats = composition_stats
        self.node_features = node_features
        self.crystal_features = crystal_features
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

    def _build_module(self, in_features, n_energies):
        return GraphNetworkDOSNetwork(
            in_features,
            n_energies,
            self.hidden,
            self.n_layers,
            cutoff=self.cutoff,
            **self._network_params(),
        )


class E3NNDOSRegressor(_BaselineRegressor):
    """E3NN baseline: the equivariant network of Chen et al. (Adv. Sci. 2021).

    Mass-weighted one-hot atoms embedded to scalars, spherical harmonics up to
    ``lmax`` on the edges, a radial MLP on the edge length, ``n_layers`` gated
    equivariant convolutions with ``mul`` copies of each irrep, and ``hidden``
    output scalars per atom, mean-pooled. Defaults follow that paper's phonon
    tutorial (embedding 64, mul 32, lmax 1, 2 gated layers, cutoff 4 Å, 10
    radial basis functions, 100 radial neurons, AdamW at 5e-3 with weight decay 0.05).
    The prediction is invariant to rotations and translations of the crystal.
    Unlike Chen et al., who map the pooled scalars straight to the DOS, the
    pooled scalars go through the read-out every model here shares (with the
    log volume per atom and log density) before the DOS head.

    Parameters
    ----------
    hidden : int, default=64
        Scalar outputs per atom, and width of the crystal vector.
    n_layers : int, default=2
        Gated equivariant convolutions.
    embedding : int, default=64
        Scalars of the node input and node attribute embeddings.
    mul : int, default=32
        Multiplicity of each irrep in the hidden layers.
    lmax : int, default=1
        Highest angular momentum of features and edge spherical harmonics.
    cutoff : float, default=4.0
        Neighbour cutoff in Å.
    n_basis : int, default=10
        Gaussians on the edge length.
    radial_neurons : int, default=100
        Hidden width of the radial networks.
    {shared}
    num_neighbors_ : float
        Mean number of neighbours per atom in the training graphs; messages
        are divided by its square root.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> import numpy as np
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6)]
    >>> y = np.random.default_rng(0).random((4, 51))
    >>> model = E3NNDOSRegressor(mul=4, embedding=8, hidden=8, max_epochs=2, random_state=0)
    >>> model.fit(X, y).predict(X).shape
    (4, 51)
    """

    def __init__(
        self,
        use_energy=False,
        hidden=64,
        n_layers=2,
        embedding=64,
        mul=32,
        lmax=1,
        cutoff=4.0,
        n_basis=10,
        radial_neurons=100,
        pooling="mean",
        composition_stats=False,
        node_features="mass_onehot",
        crystal_features=None,
        dropout=0.0,
        lr=5e-3,
        weight_decay=0.05,
        batch_size=32,
        max_epochs=100,
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
        self.embedding = embedding
        self.mul = mul
        self.lmax = lmax
        self.cutoff = cutoff
        self.n_basis = n_basis
        self.radial_neurons = radial_neurons
        self.pooling = pooling
        self.composition_stats = composition_stats
        self.node_features = node_features
        self.crystal_features = crystal_features
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

    _parameter_constraints = {
        "lmax": Integer(0),
        **{name: Integer(1) for name in ("mul", "embedding", "n_basis", "radial_neurons")},
    }

    def _annotate_graphs(self, structures, graphs, fitting):
        if fitting:
            n_edges = sum(graph.num_edges for graph in graphs)
            n_atoms = sum(graph.num_nodes for graph in graphs)
            self.num_neighbors_ = max(n_edges / n_atoms, 1.0)

    def _build_module(self, in_features, n_energies):
        encoder_params = {
            "embedding": self.embedding,
            "mul": self.mul,
            "lmax": self.lmax,
            "n_layers": self.n_layers,
            "cutoff": self.cutoff,
            "n_basis": self.n_basis,
            "radial_neurons": self.radial_neurons,
            "num_neighbors": self.num_neighbors_,
        }
        return E3NNDOSNetwork(
            in_features, n_energies, self.hidden, encoder_params, **self._network_params()
        )


MLPDOSRegressor.__doc__ = MLPDOSRegressor.__doc__.format(
    shared=_shared_parameters(pooling="sum", node_features="magpie", lr=2e-3, weight_decay=1e-4)
)
GraphNetworkDOSRegressor.__doc__ = GraphNetworkDOSRegressor.__doc__.format(
    shared=_shared_parameters(pooling="sum", node_features="magpie", lr=2e-3, weight_decay=1e-4)
)
E3NNDOSRegressor.__doc__ = E3NNDOSRegressor.__doc__.format(
    shared=_shared_parameters(
        pooling="mean", node_features="mass_onehot", lr=5e-3, weight_decay=0.05
    )
)
