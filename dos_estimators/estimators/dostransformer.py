"""``DOSTransformerRegressor``: the paper's model behind the scikit-learn API."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..nn import DOSTransformer, DOSTransformerLoss
from ..structures import CRYSTAL_SYSTEMS, DEFAULT_SYMPREC, crystal_systems
from .base import DOSDataset, GraphDOSRegressor, check_energies
from .dostransformer_params import (
    LR_SCHEDULES,
    NETWORK_PARAMS,
    PAPER_PARAMS,
    PARAMETER_CONSTRAINTS,
    check_params,
)
from .energy_grid import grid_positions, networks_on_grid
from .prior import n_prior_channels
from .prompt_tuning import check_fine_tuning, fine_tuned_net, warn_unseen_systems, with_systems
from .validation import check_return_std

__all__ = ["LR_SCHEDULES", "PAPER_PARAMS", "DOSTransformerRegressor"]


class DOSTransformerRegressor(GraphDOSRegressor):
    """Predict the DOS of crystals with DOSTransformer (Lee et al., NeurIPS 2023).

    A graph network embeds the atoms; one learned token per energy attends to
    them; the tokens then attend to each other together with the crystal
    vector (global path) and, separately, together with a learned prompt for
    the crystal system (system path); each path reads the atoms once more and
    a shared decoder gives one DOS value per energy. Training minimises
    RMSE(global) + ``beta`` · RMSE(system); predictions use the system path.

    Parameters
    ----------
    hidden : int, default=64
        Width of atom, token and crystal vectors.
    n_heads : int, default=4
        Attention heads.
    n_gnn_layers : int, default=3
        Graph-network blocks in the atom encoder.
    n_cross_layers : int, default=2
        Cross-attention layers energies → atoms before the two paths.
    n_self_layers : int, default=2
        Self-attention layers in each path.
    n_cross_layers_out : int, default=1
        Cross-attention layers energies → atoms at the end of each path.
    dropout : float, default=0.0
        Dropout rate; the paper's regularisation did not help on the phonon set
        and random masks cost a third of a CPU training step.
    beta : float, default=1.0
        Weight of the system-path RMSE in the loss.
    cutoff : float, default=5.0
        Neighbour cutoff in Å.
    node_features : str, node-feature object or list of these, default=("magpie", "chgnet")
        Element table (``"onehot"``, ``"mass_onehot"``, ``"mass_onehot_amu"``,
        ``"magpie"``, ``"matscholar"``, ``"megnet"``, ``"cgcnn"``), an atom
        embedding (``"chgnet"``, ``"vae"``, ``"contrastive"``, or an object with
        ``fit(structures, y=None)`` and ``transform(structures)`` returning one
        ``(n_atoms, F)`` array per structure; see :mod:`dos_estimators.features.atoms`),
        or a list of these whose columns are concatenated per atom. Embeddings are
        cloned and fitted on the structures and DOS passed to ``fit``. The default,
        Magpie's 22 element properties beside CHGNet 0.3.0's 64 per-atom features (its
        weights ship in the ``chgnet`` wheel), scored MSE×10 0.201, 0.222 and 0.182 on
        the seeded test tenths 0-2 where the trees scored 0.216, 0.233 and 0.205
        (``docs/embeddings.md``); CHGNet costs a forward pass per distinct structure
        (130–180/s on 2 cores), cached per process.
    pooling : {"mean", "sum"}, default="mean"
        Atom pooling for the crystal vector. ``"sum"`` is the paper's; ``"mean"``
        keeps the prediction of a supercell equal to that of its primitive cell.
    composition_stats : bool, default=True
        Add Magpie-style statistics of the element features to the crystal vector.
    lr : float, default=2e-3
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay : float, default=1e-4
    batch_size : int, default=32
    max_epochs : int, default=100
    patience : int or None, default=25
        Early-stopping patience in epochs on the validation loss; the best
        weights are restored. ``None`` or 0 trains all epochs.
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out for early stopping.
    n_ensemble : int, default=1
        Number of networks trained on the same data from different random
        initialisations and batch orders; predictions are their mean. Each
        member costs a full fit. On the phonon set five members cut the test
        MSE by about a sixth (see docs/results.md).
    encoder : {"graph_network", "paper"}, default="graph_network"
        Atom encoder: ours (Gaussian radial basis, residual gated blocks, learned
        element embedding) or the released code's (PReLU/LayerNorm blocks, mean
        aggregation).
    edge_basis : {"gaussian", "spherical"}, default="gaussian"
        Edge features: a Gaussian basis of the length (rotation invariant) or the
        released code's spherical harmonics of degree ≤ 1 of the direction (not
        rotation invariant).
    attention : {"standard", "paper"}, default="standard"
        Multi-head attention with projections, or the released code's
        projection-free attention (see :mod:`dos_estimators.nn.attention`).
    fusion : {"tokens", "concat"}, default="tokens"
        Crystal vector and prompt appended as extra tokens, or concatenated onto
        every energy token and projected (released code).
    share_paths : bool, default=False
        Global and system paths share their attention weights (released code).
    prompt : {"learned", "onehot", None}, default="learned"
        Learned crystal-system prompts (paper), fixed one-hot prompts, or no
        system path (the global path predicts).
    energy_encoding : {"learned", "sinusoidal", "continuous"}, default="learned"
        One learned token per grid point (paper), fixed sinusoids of the energy,
        or an MLP of the energy. The last two predict on any grid
        (``predict(X, energies=...)``).
    heads : {"mlp", "linear"}, default="mlp"
        Crystal read-out and DOS decoder as two-layer MLPs, or single linear
        layers (released code).
    self_loops : bool, default=False
        Give every atom a zero-length edge to itself (released code).
    crystal_descriptors : bool, default=True
        Add the log volume per atom and log density to the crystal vector.
    crystal_features : str, transformer or None, default=None
        Crystal-level features concatenated to the crystal vector, standardised on
        the training structures: ``"magpie_density"`` (the tree reference's Magpie
        and density features) or any transformer of Structures (a
        :class:`~dos_estimators.MatminerFeaturizer`, a ``FeatureUnion`` of them),
        cloned and fitted on the structures passed to ``fit``.
    prior : None, str or PotentialPhonons, default=None
        A universal potential's phonon DOS as a physics prior: a name of
        :data:`~dos_estimators.phonons.POTENTIALS` (smearing and scale chosen on the
        training crystals) or a :class:`~dos_estimators.phonons.PotentialPhonons` used as
        configured (with its ``cache``; ``sigma="fit", scale="fit"`` for the same choice).
        The network predicts the prior plus a learned correction, each energy token also
        reading the prior at the smearings of ``estimators.prior.PRIOR_LADDER``. Needs
        ``fit(..., energies=)`` in cm⁻¹ and a phonon calculation per uncached crystal.
    prior_readout : {"stretch", "masked", "add"}, default="stretch"
        The prior at a learned per-crystal frequency scale plus a masked correction, the
        correction masked by the widest prior, or added anywhere (``docs/phonons.md``).
    lr_schedule : {"onecycle", "constant"}, default="onecycle"
        One-cycle schedule peaking at ``lr``, or ``lr`` throughout (released code).
    symprec : float, default=0.1
        Symmetry tolerance (Å) for crystal systems.
    device : str, default="cpu"
        A torch device (``"cuda"``, ``"cuda:1"``), or ``"accelerate"``: training through
        Hugging Face accelerate, data parallel on the GPUs ``accelerate launch`` starts
        one process for (the ``accelerate`` extra; user guide, "Several GPUs").
    n_jobs : int, optional
        Processes for the crystal-system search of large inputs; it pays only with many
        cores: a search takes about 0.5 ms, what sending the structure to another
        process costs (``docs/results.md``, "Speed and scale").
    callbacks : list of skorch callbacks, optional
        Extra callbacks (``(name, callback)`` pairs or callbacks).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split and batch order.
    verbose : int, default=0
        1 prints a line per epoch, 2 also a progress bar per epoch.
    checkpoint_dir : str, os.PathLike or None, default=None
        Folder where each network's whole training state (weights, optimizer, schedule,
        early stopping, history, random generators) is saved after every epoch: a fit
        killed mid-way and run again with the same parameters and data resumes and ends
        as an uninterrupted fit would. The folder belongs to one configuration and data
        set (another raises ``ValueError``) and stays: fitting again loads the networks.

    Attributes
    ----------
    nets_ : list of skorch.NeuralNet
        The trained networks, ``n_ensemble`` of them.
    net_ : skorch.NeuralNet
        The first (with ``n_ensemble=1`` the only) trained network.
    n_energies_ : int
        Length of the DOS grid seen in ``fit``.
    crystal_systems_ : list of str
        Crystal systems present in the training part of the data (not the
        validation part); others get the mean prompt.
    energies_ : numpy.ndarray of shape (n_energies_,)
        The training grid (``fit``'s ``energies``, or the column index).
    n_epochs_ : int
        Epochs the first network trained in ``fit`` (``fine_tune`` leaves it as is).
    n_node_features_ : int
        Width of the node features (86 for the default, 22 for ``"magpie"``).
    node_features_ : NodeFeatureUnion or None
        The node features fitted on the training structures (None for a table name).
    crystal_features_ : CrystalFeatures or None
        The crystal features fitted on the training structures.
    n_crystal_attr_ : int
        Width of the crystal attributes in the crystal vector.
    y_scale_ : float
        Largest training DOS value; the network learns ``y / y_scale_``.
    prior_ : PotentialPhonons or None
        The prior, fitted on the training grid and crystals (``prior_.smearing()``).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> import numpy as np
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6)]
    >>> y = np.random.default_rng(0).random((4, 51))
    >>> model = DOSTransformerRegressor(hidden=16, max_epochs=2, random_state=0).fit(X, y)
    >>> model.predict(X).shape
    (4, 51)
    """

    def __init__(
        self,
        hidden=64,
        n_heads=4,
        n_gnn_layers=3,
        n_cross_layers=2,
        n_self_layers=2,
        n_cross_layers_out=1,
        dropout=0.0,
        beta=1.0,
        cutoff=5.0,
        node_features=("magpie", "chgnet"),
        pooling="mean",
        composition_stats=True,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=100,
        patience=25,
        validation_fraction=0.1,
        n_ensemble=1,
        encoder="graph_network",
        edge_basis="gaussian",
        attention="standard",
        fusion="tokens",
        share_paths=False,
        prompt="learned",
        energy_encoding="learned",
        heads="mlp",
        self_loops=False,
        crystal_descriptors=True,
        crystal_features=None,
        prior=None,
        prior_readout="stretch",
        lr_schedule="onecycle",
        symprec=DEFAULT_SYMPREC,
        device="cpu",
        n_jobs=None,
        callbacks=None,
        random_state=None,
        verbose=0,
        checkpoint_dir=None,
    ):
        self.hidden = hidden
        self.n_heads = n_heads
        self.n_gnn_layers = n_gnn_layers
        self.n_cross_layers = n_cross_layers
        self.n_self_layers = n_self_layers
        self.n_cross_layers_out = n_cross_layers_out
        self.dropout = dropout
        self.beta = beta
        self.cutoff = cutoff
        self.node_features = node_features
        self.pooling = pooling
        self.composition_stats = composition_stats
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_ensemble = n_ensemble
        self.encoder = encoder
        self.edge_basis = edge_basis
        self.attention = attention
        self.fusion = fusion
        self.share_paths = share_paths
        self.prompt = prompt
        self.energy_encoding = energy_encoding
        self.heads = heads
        self.self_loops = self_loops
        self.crystal_descriptors = crystal_descriptors
        self.crystal_features = crystal_features
        self.prior = prior
        self.prior_readout = prior_readout
        self.lr_schedule = lr_schedule
        self.symprec = symprec
        self.device = device
        self.n_jobs = n_jobs
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    @classmethod
    def paper(cls, **params):
        """The released code's DOSTransformer and training recipe (:data:`PAPER_PARAMS`).

        Parameters
        ----------
        **params
            Parameters that override the preset (e.g. ``device``, ``random_state``,
            or a shorter ``max_epochs``).

        Returns
        -------
        DOSTransformerRegressor
            Unfitted. With ``hidden=256`` its network has 6,463,113 parameters,
            the number the released model uses in its forward pass.

        Examples
        --------
        >>> model = DOSTransformerRegressor.paper(random_state=0)
        >>> model.fusion, model.share_paths, model.batch_size
        ('concat', True, 1)
        """
        return cls(**{**PAPER_PARAMS, **params})

    _parameter_constraints = PARAMETER_CONSTRAINTS
    _file_defaults = {"prior_readout": "add"}  # what files written before it had

    def _check_params(self):
        super()._check_params()
        check_params(self)

    def _build_module(self, in_features, n_energies):
        return DOSTransformer(
            n_energies=n_energies,
            in_features=in_features,
            n_systems=len(CRYSTAL_SYSTEMS),
            n_crystal_attr=self._n_crystal_attr,
            n_prior=n_prior_channels(self.prior_readout) if getattr(self, "prior_", None) else 0,
            **{name: getattr(self, name) for name in NETWORK_PARAMS},
        )

    @property
    def _uses_crystal_descriptors(self):
        return bool(self.crystal_descriptors)

    def _build_criterion(self):
        return DOSTransformerLoss(beta=self.beta)

    def _annotate_graphs(self, structures, graphs, fitting):
        systems = crystal_systems(structures, symprec=self.symprec, n_jobs=self.n_jobs)
        for graph, system in zip(graphs, systems, strict=True):
            graph.system = torch.tensor([CRYSTAL_SYSTEMS.index(system)])

    def _learn_from_training(self, inputs):
        # Only the systems of the crystals the prompts train on: a system seen only in
        # the validation part keeps a random prompt and must get the mean prompt instead.
        seen = {int(graph.system) for graph in inputs}
        self.crystal_systems_ = [s for k, s in enumerate(CRYSTAL_SYSTEMS) if k in seen]

    def _configure_module(self, module):
        seen = torch.tensor([s in self.crystal_systems_ for s in CRYSTAL_SYSTEMS])
        module.trained_systems.copy_(seen)
        positions = grid_positions(self.energies_, self.energies_)
        module.positions.copy_(torch.as_tensor(positions))

    def predict(self, X, energies=None, *, return_std=False):
        """Predict the DOS of crystals, on the training grid or another one.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        energies : array-like of shape (n_points,), optional
            A grid to predict on (strictly increasing, in the units of ``energies_``),
            e.g. twice as fine as the training grid. Needs
            ``energy_encoding="sinusoidal"`` or ``"continuous"``.
        return_std : bool, default=False
            Also return the standard deviation across the networks of the ensemble
            (needs ``n_ensemble >= 2``).

        Returns
        -------
        y_pred : numpy.ndarray of shape (n_samples, n_energies_) or (n_samples, n_points)
            Non-negative: the mean of the networks' outputs, clipped at zero.
        y_std : numpy.ndarray of the same shape
            Only with ``return_std=True``: per crystal and energy, the population standard
            deviation (``ddof=0``) of the ``n_ensemble`` networks' predictions, each
            clipped at zero first.

        Raises
        ------
        ValueError
            If ``energies`` is not a strictly increasing 1-D grid, or differs from
            the training grid while ``energy_encoding="learned"``; if ``return_std``
            is not a bool, or is True with ``n_ensemble=1``.

        Warns
        -----
        UserWarning
            If some crystals belong to a crystal system that training never saw
            (they get the mean prompt).
        """
        check_is_fitted(self, "net_")
        check_return_std(return_std, len(self.nets_))
        if energies is not None:
            energies = check_energies(energies, len(np.atleast_1d(energies)))
        with self._turns():
            inputs = self._inputs(X, energies=energies)
            if self.prompt is not None:
                warn_unseen_systems(inputs, self.crystal_systems_, stacklevel=2)
            modules = [net.module_ for net in self.nets_]
            with networks_on_grid(modules, self.energies_, energies, self.energy_encoding):
                return self._predict_inputs(inputs, return_std=return_std)

    def fine_tune(self, X, y, *, only_prompt=True, max_epochs=50, lr=None):
        """Continue training a fitted model on a few new crystals (the paper's Table 3).

        With ``only_prompt=True`` only the crystal-system prompts and the DOS
        decoder learn; every other parameter stays exactly as fitted. A crystal
        system that training never saw gets its prompt initialised from the
        mean prompt it was using until now, and is added to ``crystal_systems_``.
        Training runs ``max_epochs`` full passes at a constant learning rate,
        without validation or early stopping (there are few crystals), for
        every network of the ensemble; the ``callbacks`` parameter applies.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
            The new crystals.
        y : array-like of shape (n_samples, n_energies_)
            Their DOS, on the training grid.
        only_prompt : bool, default=True
            Train prompts and decoder only (True) or all parameters (False).
        max_epochs : int, default=50
        lr : float, optional
            Learning rate (AdamW); defaults to a tenth of ``lr``.

        Returns
        -------
        self

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model was not fitted.
        ValueError
            If ``y`` is not on the training grid, ``max_epochs`` is not an integer
            of at least 1, ``lr`` is negative, ``only_prompt`` is not a bool, or
            ``only_prompt=True`` while the model has no learned prompts.
        """
        check_is_fitted(self, "net_")
        lr = check_fine_tuning(self, only_prompt, max_epochs, lr)
        graphs = self._inputs(X)
        dataset = DOSDataset(graphs, self._scaled_targets(y, len(graphs)))
        systems = sorted({int(graph.system) for graph in graphs})
        tuned = [
            fine_tuned_net(
                self, net, dataset, systems, only_prompt=only_prompt, lr=lr, max_epochs=max_epochs
            )
            for net in self.nets_
        ]
        self.nets_ = tuned
        self.net_ = tuned[0]
        self.crystal_systems_ = with_systems(self.crystal_systems_, systems)
        return self
