"""Atom encoders: edge features and the graph-network message passing.

With the default ``"gaussian"`` edge basis edges carry only their length
(radial basis times a smooth cutoff), so the encoder is invariant to rotations
and translations of the crystal. The ``"spherical"`` basis of the released
DOSTransformer code (spherical harmonics of degree ≤ 1 of the edge direction)
is not: its predictions change when the crystal is rotated.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.utils import scatter

from .layers import mlp


class CosineCutoff(nn.Module):
    """Smooth envelope ``0.5 (cos(π d / r_c) + 1)`` for ``d < r_c``, else 0.

    Parameters
    ----------
    cutoff : float
        Cutoff radius r_c in Å.
    """

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, length: torch.Tensor) -> torch.Tensor:
        """``[num_edges]`` → ``[num_edges]``."""
        envelope = 0.5 * (torch.cos(length * (math.pi / self.cutoff)) + 1.0)
        return envelope * (length < self.cutoff).to(length.dtype)


class RadialBasis(nn.Module):
    """Gaussian radial basis of the edge length times a cosine cutoff.

    Parameters
    ----------
    cutoff : float
        Cutoff radius in Å; centres are spread evenly on ``[0, cutoff]``.
    n_basis : int, default=32
        Number of Gaussians.
    """

    def __init__(self, cutoff: float, n_basis: int = 32):
        super().__init__()
        self.envelope = CosineCutoff(cutoff)
        self.n_basis = n_basis
        self.register_buffer("centres", torch.linspace(0.0, float(cutoff), n_basis))
        self.width = float(cutoff) / n_basis

    def forward(self, length: torch.Tensor, vec: torch.Tensor | None = None) -> torch.Tensor:
        """``[num_edges]`` lengths → ``[num_edges, n_basis]`` (``vec`` is not used)."""
        gauss = torch.exp(-(((length[:, None] - self.centres) / self.width) ** 2))
        return gauss * self.envelope(length)[:, None]


class SmoothCutoff(nn.Module):
    """Envelope of the e3nn phonon model: 1 up to half the cutoff, then ``(1 − cos)/2`` to 0.

    Parameters
    ----------
    cutoff : float
        Cutoff radius r_c in Å.
    """

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, length: torch.Tensor) -> torch.Tensor:
        """``[num_edges]`` → ``[num_edges]``."""
        u = (2.0 * (length / self.cutoff - 1.0)).clamp(-1.0, 0.0)
        return 0.5 * (1.0 - torch.cos(math.pi * u))


class SphericalEdgeBasis(nn.Module):
    """Spherical harmonics of degree 0 and 1 of the edge direction times a smooth cutoff.

    The released DOSTransformer code's edge features: ``[1, √3 x̂, √3 ŷ, √3 ẑ]``
    (e3nn's "component" normalisation) times :class:`SmoothCutoff`. They depend
    on the orientation of the crystal.

    Parameters
    ----------
    cutoff : float
        Cutoff radius in Å (the released code uses 4 Å).
    """

    n_basis = 4

    def __init__(self, cutoff: float):
        super().__init__()
        self.envelope = SmoothCutoff(cutoff)

    def forward(self, length: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        """``[num_edges]`` lengths and ``[num_edges, 3]`` vectors → ``[num_edges, 4]``.

        ``vec`` points from the receiving atom (``edge_index[1]``) to the sending
        one; the released code's vectors point the other way, so the sign is
        flipped to give its features exactly. A zero-length self-loop gets
        ``[1, 0, 0, 0]``.
        """
        direction = -vec / length.clamp_min(1e-9)[:, None]
        harmonics = torch.cat([torch.ones_like(length)[:, None], math.sqrt(3.0) * direction], -1)
        return harmonics * self.envelope(length)[:, None]


EDGE_BASES = ("gaussian", "spherical")


def _edge_basis(kind: str, cutoff: float, n_basis: int = 32) -> nn.Module:
    """The edge basis called ``kind``: :class:`RadialBasis` or :class:`SphericalEdgeBasis`.

    The module has an ``envelope`` (lengths → weights vanishing at the cutoff)
    and an ``n_basis`` attribute (its output width).
    """
    if kind == "gaussian":
        return RadialBasis(cutoff, n_basis)
    if kind == "spherical":
        return SphericalEdgeBasis(cutoff)
    raise ValueError(f"edge_basis={kind!r} is not one of {EDGE_BASES}.")


class GraphNetworkLayer(nn.Module):
    """One Battaglia-style graph-network block with residual updates.

    Edge update ``e_ij ← e_ij + φ_e([h_i ‖ h_j ‖ e_ij])``, message
    ``m_ij = e_ij · fc(d_ij)``, node update ``h_i ← h_i + φ_v([h_i ‖ Σ_j m_ij])``.
    The cutoff envelope makes messages vanish smoothly at the cutoff.

    The first linear map of φ_e acts on a concatenation, so it is computed as
    ``A h_i + B h_j + e_ij`` with ``A h`` and ``B h`` evaluated once per atom
    rather than once per edge (crystals have about 30 edges per atom at a 5 Å
    cutoff); the edge term needs no matrix of its own because ``e_ij`` is
    already a learned linear map of the radial basis, updated residually.

    Parameters
    ----------
    hidden : int
        Width of node and edge features.
    dropout : float, default=0.0
    """

    def __init__(self, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.node_norm = nn.LayerNorm(hidden)
        self.edge_from_centre = nn.Linear(hidden, hidden)
        self.edge_from_neighbour = nn.Linear(hidden, hidden, bias=False)
        self.edge_out = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))
        self.node_mlp = mlp(2 * hidden, hidden, hidden, dropout=dropout)

    def forward(self, h, edge_index, edge_attr, envelope):
        """Update node and edge features.

        Parameters
        ----------
        h : torch.Tensor of shape [num_nodes, hidden]
        edge_index : torch.Tensor of shape [2, num_edges]
            Row 0 the neighbour *j*, row 1 the centre *i*.
        edge_attr : torch.Tensor of shape [num_edges, hidden]
        envelope : torch.Tensor of shape [num_edges]

        Returns
        -------
        (torch.Tensor [num_nodes, hidden], torch.Tensor [num_edges, hidden])
        """
        source, target = edge_index
        hn = self.node_norm(h)
        pre_activation = (
            self.edge_from_centre(hn)[target] + self.edge_from_neighbour(hn)[source] + edge_attr
        )
        edge_attr = edge_attr + self.edge_out(pre_activation)
        messages = scatter(
            edge_attr * envelope[:, None], target, dim=0, dim_size=h.size(0), reduce="sum"
        )
        h = h + self.node_mlp(torch.cat([hn, messages], dim=-1))
        return h, edge_attr


class GraphNetworkEncoder(nn.Module):
    """Embed atoms of a periodic graph with stacked graph-network blocks.

    Node input is a linear map of the element-table features plus a learned
    per-element embedding; edges start from a radial basis of their length.

    Parameters
    ----------
    in_features : int
        Width of the element-table features ``x``.
    hidden : int, default=128
    n_layers : int, default=3
    cutoff : float, default=5.0
        Must match the graph's cutoff (Å).
    n_basis : int, default=32
    n_elements : int, default=119
        Size of the learned element embedding (indexed by atomic number).
    dropout : float, default=0.0
    edge_basis : {"gaussian", "spherical"}, default="gaussian"
        See :func:`edge_basis`.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 128,
        n_layers: int = 3,
        cutoff: float = 5.0,
        n_basis: int = 32,
        n_elements: int = 119,
        dropout: float = 0.0,
        edge_basis: str = "gaussian",
    ):
        super().__init__()
        self.node_in = nn.Linear(in_features, hidden)
        self.element_embedding = nn.Embedding(n_elements, hidden)
        self.edge_basis = _edge_basis(edge_basis, cutoff, n_basis)
        self.edge_in = nn.Linear(self.edge_basis.n_basis, hidden)
        self.layers = nn.ModuleList(GraphNetworkLayer(hidden, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x, z, edge_index, edge_length, edge_vec=None):
        """Atom embeddings.

        Parameters
        ----------
        x : torch.Tensor of shape [num_nodes, in_features]
        z : torch.Tensor of shape [num_nodes]
            Atomic numbers.
        edge_index : torch.Tensor of shape [2, num_edges]
        edge_length : torch.Tensor of shape [num_edges]
        edge_vec : torch.Tensor of shape [num_edges, 3], optional
            Needed by the ``"spherical"`` edge basis.

        Returns
        -------
        torch.Tensor of shape [num_nodes, hidden]
        """
        h = self.node_in(x) + self.element_embedding(z)
        edge_attr = self.edge_in(self.edge_basis(edge_length, edge_vec))
        envelope = self.edge_basis.envelope(edge_length)
        for layer in self.layers:
            h, edge_attr = layer(h, edge_index, edge_attr, envelope)
        return self.norm(h)


class PaperGraphNetworkLayer(nn.Module):
    """The released DOSTransformer code's graph-network block.

    Edge update ``e'_ij = φ_e([h_j ‖ h_i ‖ e_ij])``, node update
    ``h'_i = φ_v([h_i ‖ mean_j e'_ij])``, each φ ``Linear → LayerNorm → PReLU →
    Linear`` with a hidden width of ``2 · hidden``; the caller adds both
    residually.

    Parameters
    ----------
    hidden : int
    """

    def __init__(self, hidden: int):
        super().__init__()

        def block(in_features):
            return nn.Sequential(
                nn.Linear(in_features, 2 * hidden),
                nn.LayerNorm(2 * hidden),
                nn.PReLU(),
                nn.Linear(2 * hidden, hidden),
            )

        self.edge_mlp = block(3 * hidden)
        self.node_mlp = block(2 * hidden)

    def forward(self, h, edge_index, edge_attr):
        """Node and edge updates ``[num_nodes, hidden]``, ``[num_edges, hidden]``."""
        source, target = edge_index
        edge_update = self.edge_mlp(torch.cat([h[source], h[target], edge_attr], dim=-1))
        incoming = scatter(edge_update, target, dim=0, dim_size=h.size(0), reduce="mean")
        return self.node_mlp(torch.cat([h, incoming], dim=-1)), edge_update


class PaperGraphNetworkEncoder(nn.Module):
    """The released DOSTransformer code's atom encoder.

    Node and edge inputs through ``Linear → PReLU → Linear``; then
    :class:`PaperGraphNetworkLayer` blocks with residual node and edge updates;
    no element embedding and no final norm.

    Parameters
    ----------
    in_features : int
        Width of the element features (the released code: a one-hot of 118).
    hidden : int, default=256
    n_layers : int, default=3
    cutoff : float, default=4.0
    n_basis : int, default=32
        Width of the ``"gaussian"`` basis (the ``"spherical"`` one has 4).
    edge_basis : {"spherical", "gaussian"}, default="spherical"
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 256,
        n_layers: int = 3,
        cutoff: float = 4.0,
        n_basis: int = 32,
        edge_basis: str = "spherical",
    ):
        super().__init__()
        self.edge_basis = _edge_basis(edge_basis, cutoff, n_basis)
        self.node_in = nn.Sequential(
            nn.Linear(in_features, hidden), nn.PReLU(), nn.Linear(hidden, hidden)
        )
        self.edge_in = nn.Sequential(
            nn.Linear(self.edge_basis.n_basis, hidden), nn.PReLU(), nn.Linear(hidden, hidden)
        )
        self.layers = nn.ModuleList(PaperGraphNetworkLayer(hidden) for _ in range(n_layers))

    def forward(self, x, z, edge_index, edge_length, edge_vec=None):
        """Same arguments and result as :meth:`GraphNetworkEncoder.forward`."""
        h = self.node_in(x)
        edge_attr = self.edge_in(self.edge_basis(edge_length, edge_vec))
        for layer in self.layers:
            node_update, edge_update = layer(h, edge_index, edge_attr)
            h = h + node_update
            edge_attr = edge_attr + edge_update
        return h


ENCODERS = ("graph_network", "paper")


def graph_encoder(
    kind: str,
    in_features: int,
    hidden: int,
    n_layers: int,
    cutoff: float,
    n_basis: int = 32,
    dropout: float = 0.0,
    edge_basis: str = "gaussian",
) -> nn.Module:
    """The atom encoder called ``kind`` (one of :data:`ENCODERS`).

    ``"graph_network"`` is :class:`GraphNetworkEncoder`; ``"paper"`` the released code's
    :class:`PaperGraphNetworkEncoder`, which has no dropout. Both map the arguments of
    :meth:`GraphNetworkEncoder.forward` to atom embeddings ``[num_nodes, hidden]``.
    """
    if kind == "graph_network":
        return GraphNetworkEncoder(
            in_features, hidden, n_layers, cutoff, n_basis, dropout=dropout, edge_basis=edge_basis
        )
    if kind == "paper":
        return PaperGraphNetworkEncoder(
            in_features, hidden, n_layers, cutoff, n_basis, edge_basis=edge_basis
        )
    raise ValueError(f"encoder={kind!r} is not one of {ENCODERS}.")
