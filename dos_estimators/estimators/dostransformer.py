"""``DOSTransformerRegressor``: the paper's model behind the scikit-learn API."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._validation import is_integer, is_real
from ..graphs import CRYSTAL_ATTR_NAMES
from ..nn import DOSTransformer, DOSTransformerLoss
from ..structures import CRYSTAL_SYSTEMS, DEFAULT_SYMPREC, crystal_systems
from .base import DOSDataset, GraphDOSRegressor, seeded


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
    node_features : str, default="magpie"
        Element table (``"onehot"``, ``"mass_onehot"``, ``"magpie"``,
        ``"matscholar"``, ``"megnet"``, ``"cgcnn"``).
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
    symprec : float, default=0.1
        Symmetry tolerance (Å) for crystal systems.
    device : str, default="cpu"
    n_jobs : int, optional
        Processes for crystal-system detection of large inputs.
    callbacks : list of skorch callbacks, optional
        Extra callbacks (``(name, callback)`` pairs or callbacks).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split and batch order.
    verbose : int, default=0
        1 prints a line per epoch, 2 also a progress bar per epoch.

    Attributes
    ----------
    nets_ : list of skorch.NeuralNet
        The trained networks, ``n_ensemble`` of them.
    net_ : skorch.NeuralNet
        The first (with ``n_ensemble=1`` the only) trained network.
    n_energies_ : int
        Length of the DOS grid seen in ``fit``.
    crystal_systems_ : list of str
        Crystal systems present in the training data; others get the mean prompt.
    n_epochs_ : int
        Epochs the first network trained in ``fit`` (``fine_tune`` leaves it as is).
    n_node_features_ : int
        Width of the node-feature table (22 for ``"magpie"``).
    y_scale_ : float
        Largest training DOS value; the network learns ``y / y_scale_``.

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
        node_features="magpie",
        pooling="mean",
        composition_stats=True,
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=100,
        patience=25,
        validation_fraction=0.1,
        n_ensemble=1,
        symprec=DEFAULT_SYMPREC,
        device="cpu",
        n_jobs=None,
        callbacks=None,
        random_state=None,
        verbose=0,
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
        self.symprec = symprec
        self.device = device
        self.n_jobs = n_jobs
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        super()._check_params()
        self._check_integers(1, "hidden", "n_heads", "n_cross_layers", "n_self_layers")
        self._check_integers(0, "n_gnn_layers", "n_cross_layers_out")
        if self.hidden % self.n_heads:
            raise ValueError(
                f"hidden={self.hidden} must be divisible by n_heads={self.n_heads} "
                "(each attention head gets hidden / n_heads features)."
            )

    def _build_module(self, in_features, n_energies):
        return DOSTransformer(
            n_energies=n_energies,
            in_features=in_features,
            n_systems=len(CRYSTAL_SYSTEMS),
            hidden=self.hidden,
            n_heads=self.n_heads,
            n_gnn_layers=self.n_gnn_layers,
            n_cross_layers=self.n_cross_layers,
            n_self_layers=self.n_self_layers,
            n_cross_layers_out=self.n_cross_layers_out,
            dropout=self.dropout,
            cutoff=self.cutoff,
            pooling=self.pooling,
            composition_stats=self.composition_stats,
            n_crystal_attr=len(CRYSTAL_ATTR_NAMES),
        )

    def _build_criterion(self):
        return DOSTransformerLoss(beta=self.beta)

    def _annotate_graphs(self, structures, graphs, fitting):
        systems = crystal_systems(structures, symprec=self.symprec, n_jobs=self.n_jobs)
        for graph, system in zip(graphs, systems, strict=True):
            graph.system = torch.tensor([CRYSTAL_SYSTEMS.index(system)])
        if fitting:
            self.crystal_systems_ = [s for s in CRYSTAL_SYSTEMS if s in set(systems)]

    def _configure_module(self, module):
        seen = torch.tensor([s in self.crystal_systems_ for s in CRYSTAL_SYSTEMS])
        module.trained_systems.copy_(seen)

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
            of at least 1, ``lr`` is negative or ``only_prompt`` is not a bool.
        """
        check_is_fitted(self, "net_")
        if not (is_integer(max_epochs) and max_epochs >= 1):
            raise ValueError(f"max_epochs must be an integer of at least 1, got {max_epochs!r}.")
        if not isinstance(only_prompt, (bool, np.bool_)):
            raise ValueError(f"only_prompt must be True or False, got {only_prompt!r}.")
        lr = self.lr / 10 if lr is None else lr
        if not (is_real(lr) and lr >= 0):
            raise ValueError(f"lr must be a non-negative number, got {lr!r}.")
        graphs = self._inputs(X)
        targets = self._scaled_targets(y, len(graphs))
        dataset = DOSDataset(graphs, targets)
        new_systems = sorted({int(graph.system) for graph in graphs})
        tuned = []
        for net in self.nets_:
            # Batch order seeded from the network's own training seed, so that
            # fine-tuning is repeatable without drawing from ``random_state``.
            seed = net.iterator_train__generator.initial_seed()
            module = net.module_
            with torch.no_grad():
                unseen = [k for k in new_systems if not module.trained_systems[k]]
                if unseen:
                    mean_prompt = module.system_prompts.weight[module.trained_systems].mean(0)
                    module.system_prompts.weight[unseen] = mean_prompt
                module.trained_systems[new_systems] = True
                # The prompts are rows of one tensor: weight decay would shrink the
                # rows of systems absent from X too, so those are put back afterwards.
                others = [k for k in range(len(CRYSTAL_SYSTEMS)) if k not in new_systems]
                other_prompts = module.system_prompts.weight[others].clone()
            module.requires_grad_(not only_prompt)
            module.system_prompts.requires_grad_(True)
            module.decoder.requires_grad_(True)
            try:
                with seeded(seed, self.device):
                    new_net = self._new_net(
                        module,
                        seed,
                        lr=lr,
                        max_epochs=max_epochs,
                        train_split=None,
                        callbacks=self._user_callbacks(),
                    )
                    new_net.fit(dataset, None)
            finally:
                module.requires_grad_(True)
                with torch.no_grad():
                    module.system_prompts.weight[others] = other_prompts
            tuned.append(new_net)
        self.nets_ = tuned
        self.net_ = tuned[0]
        seen = set(self.crystal_systems_) | {CRYSTAL_SYSTEMS[k] for k in new_systems}
        self.crystal_systems_ = [s for s in CRYSTAL_SYSTEMS if s in seen]
        return self
