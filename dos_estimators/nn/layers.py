"""Small building blocks shared by every model: MLPs and crystal read-outs."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch_geometric.utils import scatter

POOLINGS = ("sum", "mean")

ATOM_ENCODER_INPUT = "atom_encoder_input"
"""Attribute of a graph holding what an atom encoder reads for it (e.g. a potential's graph)."""


def with_encoded_atoms(data, atom_encoder: nn.Module | None):
    """``data`` with the atom encoder's per-atom columns appended to its ``x``.

    An atom encoder is a module that computes node features inside the network, so
    that they train with it (a pretrained potential being fine-tuned). It is called
    with the batch's ``atom_encoder_input``, a list of one object per crystal (what
    the encoder reads, e.g. the potential's own graph of the crystal), and returns a
    tensor ``[num_nodes, F]`` in the order of the batch's nodes.

    Parameters
    ----------
    data : torch_geometric.data.Batch
        With ``x`` ``[num_nodes, F_x]``, and ``atom_encoder_input`` when
        ``atom_encoder`` is set.
    atom_encoder : torch.nn.Module or None
        None returns ``data`` itself.

    Returns
    -------
    torch_geometric.data.Batch
        A shallow copy whose ``x`` is ``[num_nodes, F_x + F]``; ``data`` is left as
        it was.

    Raises
    ------
    KeyError
        If the batch has no ``atom_encoder_input`` for the encoder.
    """
    if atom_encoder is None:
        return data
    if ATOM_ENCODER_INPUT not in data:
        raise KeyError(
            f"this network computes node features with {type(atom_encoder).__name__}, which "
            f"reads each graph's {ATOM_ENCODER_INPUT!r}; the batch has none (graphs built "
            "by the estimator that owns the network carry it)."
        )
    data = copy.copy(data)
    features = atom_encoder(data[ATOM_ENCODER_INPUT])
    data.x = torch.cat([data.x, features.to(data.x.dtype)], dim=1)
    return data


def mlp(in_features: int, hidden: int, out_features: int, dropout: float = 0.0) -> nn.Sequential:
    """Two-layer perceptron ``Linear → SiLU → Dropout → Linear``."""
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.SiLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )


def perceptron(in_features: int, hidden: int, n_layers: int, dropout: float = 0.0) -> nn.Sequential:
    """``n_layers`` blocks ``Linear → SiLU → Dropout``, from ``in_features`` to ``hidden``.

    The feature extractor of the MLP baselines: applied to each atom's
    element features, or to a row of any feature matrix.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be at least 1, got {n_layers}.")
    blocks = []
    for i in range(n_layers):
        blocks += [
            nn.Linear(in_features if i == 0 else hidden, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
        ]
    return nn.Sequential(*blocks)


def pool(h: torch.Tensor, batch: torch.Tensor, n_graphs: int, pooling: str) -> torch.Tensor:
    """Pool atom features per crystal.

    Parameters
    ----------
    h : torch.Tensor of shape [num_nodes, F]
    batch : torch.Tensor of shape [num_nodes]
        Crystal index of each atom.
    n_graphs : int
    pooling : {"sum", "mean"}
        ``"mean"`` keeps the crystal vector intensive (a supercell gives the
        same vector as its primitive cell).

    Returns
    -------
    torch.Tensor of shape [n_graphs, F]
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} is not one of {POOLINGS}.")
    return scatter(h, batch, dim=0, dim_size=n_graphs, reduce=pooling)


def composition_statistics(x: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
    """Magpie-style statistics of the element features of each crystal.

    Mean, mean absolute deviation, minimum and maximum over the atoms, all
    intensive (unchanged by taking a supercell).

    Parameters
    ----------
    x : torch.Tensor of shape [num_nodes, F]
    batch : torch.Tensor of shape [num_nodes]
    n_graphs : int

    Returns
    -------
    torch.Tensor of shape [n_graphs, 4 * F]
    """
    mean = scatter(x, batch, dim=0, dim_size=n_graphs, reduce="mean")
    deviation = scatter((x - mean[batch]).abs(), batch, dim=0, dim_size=n_graphs, reduce="mean")
    low = scatter(x, batch, dim=0, dim_size=n_graphs, reduce="min")
    high = scatter(x, batch, dim=0, dim_size=n_graphs, reduce="max")
    return torch.cat([mean, deviation, low, high], dim=-1)


class CrystalReadout(nn.Module):
    """Crystal vector from pooled atom embeddings and cheap crystal descriptors.

    ``g = φ([pool(h) ‖ crystal_attr ‖ stats(x)])`` where ``stats`` are
    :func:`composition_statistics` of the raw element features (optional) and
    ``crystal_attr`` the graph's volume and density descriptors.

    Parameters
    ----------
    hidden : int
        Width of ``h`` and of the output.
    in_features : int
        Width of the element features ``x``.
    n_crystal_attr : int
        Width of ``crystal_attr``.
    pooling : {"sum", "mean"}
    composition_stats : bool, default=True
    dropout : float, default=0.0
    linear : bool, default=False
        One linear layer instead of the two-layer MLP (the released DOSTransformer code).
    """

    def __init__(
        self,
        hidden: int,
        in_features: int,
        n_crystal_attr: int,
        pooling: str = "mean",
        composition_stats: bool = True,
        dropout: float = 0.0,
        linear: bool = False,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not one of {POOLINGS}.")
        self.pooling = pooling
        self.composition_stats = composition_stats
        self.n_crystal_attr = n_crystal_attr
        width = hidden + n_crystal_attr + (4 * in_features if composition_stats else 0)
        self.mlp = nn.Linear(width, hidden) if linear else mlp(width, hidden, hidden, dropout)

    def forward(self, h, x, batch, crystal_attr):
        """Crystal vectors.

        Parameters
        ----------
        h : torch.Tensor of shape [num_nodes, hidden]
        x : torch.Tensor of shape [num_nodes, in_features]
        batch : torch.Tensor of shape [num_nodes]
        crystal_attr : torch.Tensor of shape [n_graphs, F]
            Crystal descriptors, of which the first ``n_crystal_attr`` are used.

        Returns
        -------
        torch.Tensor of shape [n_graphs, hidden]
        """
        n_graphs = crystal_attr.size(0)
        parts = [pool(h, batch, n_graphs, self.pooling), crystal_attr[:, : self.n_crystal_attr]]
        if self.composition_stats:
            parts.append(composition_statistics(x, batch, n_graphs))
        return self.mlp(torch.cat(parts, dim=-1))
