"""The DOSTransformer paper's baseline networks: atom encoder → pooled crystal vector → DOS head.

Three atom encoders (a per-atom MLP, the graph network DOSTransformer uses,
the e3nn equivariant network) share one read-out and the two heads of
:mod:`.heads`; :class:`FeatureDOSNetwork` puts the same heads on a plain
feature vector.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoders import GraphNetworkEncoder
from .equivariant import E3NNEncoder
from .heads import dos_head
from .layers import CrystalReadout, perceptron, with_encoded_atoms


class PooledDOSNetwork(nn.Module):
    """Base of the structure baselines: ``head(readout(pool(embed_atoms(data))))``.

    Subclasses build their encoder and implement :meth:`embed_atoms`.

    Parameters
    ----------
    in_features : int
        Width of the node features: the graphs' ``x``, plus the columns of
        ``atom_encoder`` when one is set (see
        :func:`~dos_estimators.nn.layers.with_encoded_atoms`).
    n_energies : int
    hidden : int
        Width of atom embeddings and of the crystal vector.
    use_energy : bool
        Pointwise ``φ([E_j ‖ g])`` head (True) or whole-vector head (False).
    pooling : {"sum", "mean"}
    composition_stats : bool
        Add statistics of the element features to the crystal vector.
    n_crystal_attr : int
        Width of the graphs' ``crystal_attr``.
    dropout : float
    """

    def __init__(
        self,
        in_features: int,
        n_energies: int,
        hidden: int,
        use_energy: bool,
        pooling: str,
        composition_stats: bool,
        n_crystal_attr: int,
        dropout: float,
    ):
        super().__init__()
        self.atom_encoder: nn.Module | None = None
        self.readout = CrystalReadout(
            hidden, in_features, n_crystal_attr, pooling, composition_stats, dropout
        )
        self.head = dos_head(use_energy, hidden, n_energies, dropout)

    def embed_atoms(self, data) -> torch.Tensor:
        """Atom embeddings ``[num_nodes, hidden]`` of a batch."""
        raise NotImplementedError

    def forward(self, data):
        """Predict the DOS of a batch of crystals.

        Parameters
        ----------
        data : torch_geometric.data.Batch
            With ``x`` ``[num_nodes, in_features]``, ``z`` ``[num_nodes]``,
            ``edge_index`` ``[2, num_edges]``, ``edge_vec`` ``[num_edges, 3]``,
            ``edge_length`` ``[num_edges]``, ``crystal_attr``
            ``[batch_size, n_crystal_attr]`` and ``batch`` ``[num_nodes]``.

        Returns
        -------
        torch.Tensor of shape [batch_size, n_energies]
        """
        # getattr: networks pickled before atom encoders existed have no such attribute.
        data = with_encoded_atoms(data, getattr(self, "atom_encoder", None))
        h = self.embed_atoms(data)
        crystal_vector = self.readout(h, data.x, data.batch, data.crystal_attr)
        return self.head(crystal_vector)


class MLPDOSNetwork(PooledDOSNetwork):
    """A perceptron on each atom's element features, pooled; no neighbours seen.

    Parameters
    ----------
    n_layers : int, default=3
        Layers of the per-atom perceptron.
    **kwargs
        See :class:`PooledDOSNetwork`.
    """

    def __init__(self, in_features, n_energies, hidden, n_layers=3, **kwargs):
        super().__init__(in_features, n_energies, hidden, **kwargs)
        self.encoder = perceptron(in_features, hidden, n_layers, kwargs["dropout"])

    def embed_atoms(self, data):
        return self.encoder(data.x)


class GraphNetworkDOSNetwork(PooledDOSNetwork):
    """The graph-network atom encoder of DOSTransformer, pooled.

    Parameters
    ----------
    n_layers : int, default=3
        Graph-network blocks.
    cutoff : float, default=5.0
    n_basis : int, default=32
    **kwargs
        See :class:`PooledDOSNetwork`.
    """

    def __init__(
        self, in_features, n_energies, hidden, n_layers=3, cutoff=5.0, n_basis=32, **kwargs
    ):
        super().__init__(in_features, n_energies, hidden, **kwargs)
        self.encoder = GraphNetworkEncoder(
            in_features, hidden, n_layers, cutoff, n_basis, dropout=kwargs["dropout"]
        )

    def embed_atoms(self, data):
        return self.encoder(data.x, data.z, data.edge_index, data.edge_length)


class E3NNDOSNetwork(PooledDOSNetwork):
    """The equivariant network of Chen et al. (Adv. Sci. 2021), pooled.

    Parameters
    ----------
    encoder_params : dict
        Keyword arguments of :class:`E3NNEncoder` other than ``in_features``
        and ``out_features`` (which is ``hidden``).
    **kwargs
        See :class:`PooledDOSNetwork`.
    """

    def __init__(self, in_features, n_energies, hidden, encoder_params=None, **kwargs):
        super().__init__(in_features, n_energies, hidden, **kwargs)
        self.encoder = E3NNEncoder(in_features, hidden, **(encoder_params or {}))

    def embed_atoms(self, data):
        return self.encoder(data.x, data.z, data.edge_index, data.edge_vec)


class FeatureDOSNetwork(nn.Module):
    """The DOS heads on a plain feature vector: ``head(perceptron(x))``.

    Parameters
    ----------
    in_features : int
    n_energies : int
    hidden : int, default=128
    n_layers : int, default=2
    use_energy : bool, default=True
    dropout : float, default=0.0
    """

    def __init__(
        self,
        in_features: int,
        n_energies: int,
        hidden: int = 128,
        n_layers: int = 2,
        use_energy: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.encoder = perceptron(in_features, hidden, n_layers, dropout)
        self.head = dos_head(use_energy, hidden, n_energies, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[batch_size, in_features]`` → ``[batch_size, n_energies]``."""
        return self.head(self.encoder(features))
