"""E(3)-equivariant atom encoder of Chen et al. (Adv. Sci. 2021), built from e3nn.

Atoms carry scalar, vector (and higher) features; edges carry spherical
harmonics of their direction and a radial basis of their length; gated
equivariant convolutions mix them, and the last layer keeps only scalars, so
the atom embeddings it returns are invariant to rotations of the crystal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .encoders import CosineCutoff

# e3nn is imported where an encoder is built or run, not with this module: importing
# dos_estimators (or dos_estimators.nn) neither waits for e3nn nor fails without it.
if TYPE_CHECKING:
    from e3nn.nn import Gate
    from e3nn.nn.models.gate_points_2101 import Convolution

_SCALAR_ACTIVATIONS = {1: nn.functional.silu, -1: torch.tanh}
_GATE_ACTIVATIONS = {1: torch.sigmoid, -1: torch.tanh}


class _GatedConvolution(nn.Module):
    """An equivariant convolution followed by its gate non-linearity."""

    def __init__(self, convolution: Convolution, gate: Gate):
        super().__init__()
        self.convolution = convolution
        self.gate = gate

    def forward(self, h, node_attr, source, target, edge_attr, edge_basis):
        return self.gate(self.convolution(h, node_attr, source, target, edge_attr, edge_basis))


class E3NNEncoder(nn.Module):
    """Gated equivariant convolutions on a periodic graph (e3nn ``gate_points_2101`` layers).

    Node input is an embedding of the element features (``mass_onehot`` in
    Chen et al.), node attributes an embedding of the element; both are
    ``embedding`` scalars after a ReLU. Each hidden layer keeps ``mul`` copies of
    every irrep up to ``lmax``, of either parity, that the tensor products can
    reach (for the defaults ``"32x0e + 32x1o"`` after the first layer and
    ``"32x0e + 32x1o + 32x1e"`` after the second); edges carry spherical
    harmonics up to ``lmax`` times a cosine cutoff, and their length enters the
    radial networks through ``n_basis`` Gaussians.

    Parameters
    ----------
    in_features : int
        Width of the element features ``x``.
    out_features : int, default=64
        Number of scalar (``0e``) outputs per atom.
    embedding : int, default=64
        Scalars of the node input and attribute embeddings.
    mul : int, default=32
        Multiplicity of each irrep in the hidden layers.
    lmax : int, default=1
        Highest angular momentum of features and spherical harmonics.
    n_layers : int, default=2
        Gated convolution layers (then one more convolution to ``out_features`` scalars).
    cutoff : float, default=4.0
        Must match the graph's cutoff (Å).
    n_basis : int, default=10
    radial_neurons : int, default=100
        Hidden width of the one-hidden-layer radial networks.
    num_neighbors : float, default=1.0
        Typical number of neighbours; messages are divided by its square root.
    n_elements : int, default=119
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 64,
        embedding: int = 64,
        mul: int = 32,
        lmax: int = 1,
        n_layers: int = 2,
        cutoff: float = 4.0,
        n_basis: int = 10,
        radial_neurons: int = 100,
        num_neighbors: float = 1.0,
        n_elements: int = 119,
    ):
        from e3nn import o3
        from e3nn.nn import Gate
        from e3nn.nn.models.gate_points_2101 import Convolution, tp_path_exists

        super().__init__()
        self.cutoff = float(cutoff)
        self.n_basis = n_basis
        self.node_in = nn.Linear(in_features, embedding)
        self.node_attr = nn.Embedding(n_elements, embedding)
        self.envelope = CosineCutoff(cutoff)
        self.irreps_edge = o3.Irreps.spherical_harmonics(lmax)
        irreps_hidden = o3.Irreps(
            [(mul, (degree, parity)) for degree in range(lmax + 1) for parity in (-1, 1)]
        )
        irreps_attr = o3.Irreps(f"{embedding}x0e")
        irreps = irreps_attr

        def convolution(irreps_in, irreps_out):
            return Convolution(
                irreps_in,
                irreps_attr,
                self.irreps_edge,
                irreps_out,
                number_of_basis=n_basis,
                radial_layers=1,
                radial_neurons=radial_neurons,
                num_neighbors=num_neighbors,
            )

        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            reachable = [
                (m, ir) for m, ir in irreps_hidden if tp_path_exists(irreps, self.irreps_edge, ir)
            ]
            scalars = o3.Irreps([(m, ir) for m, ir in reachable if ir.l == 0])
            gated = o3.Irreps([(m, ir) for m, ir in reachable if ir.l > 0])
            gate_irrep = "0e" if tp_path_exists(irreps, self.irreps_edge, "0e") else "0o"
            gates = o3.Irreps([(m, gate_irrep) for m, _ in gated])
            gate = Gate(
                scalars,
                [_SCALAR_ACTIVATIONS[ir.p] for _, ir in scalars],
                gates,
                [_GATE_ACTIVATIONS[ir.p] for _, ir in gates],
                gated,
            )
            self.layers.append(_GatedConvolution(convolution(irreps, gate.irreps_in), gate))
            irreps = gate.irreps_out
        self.output = convolution(irreps, o3.Irreps(f"{out_features}x0e"))

    def forward(self, x, z, edge_index, edge_vec):
        """Rotation-invariant atom embeddings.

        Parameters
        ----------
        x : torch.Tensor of shape [num_nodes, in_features]
        z : torch.Tensor of shape [num_nodes]
            Atomic numbers.
        edge_index : torch.Tensor of shape [2, num_edges]
            Row 0 the neighbour *j*, row 1 the centre *i*.
        edge_vec : torch.Tensor of shape [num_edges, 3]
            ``r_j + shift − r_i`` in Å.

        Returns
        -------
        torch.Tensor of shape [num_nodes, out_features]
        """
        from e3nn import o3
        from e3nn.math import soft_one_hot_linspace

        source, target = edge_index
        length = edge_vec.norm(dim=1)
        harmonics = o3.spherical_harmonics(
            self.irreps_edge, edge_vec, normalize=True, normalization="component"
        )
        edge_attr = self.envelope(length)[:, None] * harmonics
        edge_basis = soft_one_hot_linspace(
            length, 0.0, self.cutoff, self.n_basis, basis="gaussian", cutoff=False
        ).mul(self.n_basis**0.5)
        h = nn.functional.relu(self.node_in(x))
        node_attr = nn.functional.relu(self.node_attr(z))
        for layer in self.layers:
            h = layer(h, node_attr, source, target, edge_attr, edge_basis)
        return self.output(h, node_attr, source, target, edge_attr, edge_basis)
