"""DOSTransformer (Lee et al., NeurIPS 2023): energy tokens that read a crystal graph.

A graph network embeds the atoms; one learned token per energy attends to the
atoms, then to each other together with the crystal vector (global path) and,
in a second path, also with a learned prompt for the crystal system; each path
attends to the atoms again and a shared decoder reads one DOS value per token.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import to_dense_batch

from .attention import CrossAttention, self_attention
from .encoders import GraphNetworkEncoder
from .layers import CrystalReadout, mlp


class _TokenPath(nn.Module):
    """Self-attention over ``[energy tokens ‖ extra tokens]``, then cross-attention to atoms."""

    def __init__(self, hidden, n_heads, n_self_layers, n_cross_layers_out, dropout):
        super().__init__()
        self.self_attention = self_attention(hidden, n_heads, n_self_layers, dropout)
        self.cross_attention = CrossAttention(hidden, n_heads, n_cross_layers_out, dropout)

    def forward(self, energy_tokens, extra_tokens, atoms, padding_mask):
        n_energies = energy_tokens.size(1)
        tokens = self.self_attention(torch.cat([energy_tokens, extra_tokens], dim=1))
        return self.cross_attention(tokens[:, :n_energies], atoms, padding_mask)


class DOSTransformer(nn.Module):
    """Prompt-guided multi-modal transformer for DOS prediction.

    Parameters
    ----------
    n_energies : int
        Length of the DOS grid (one token per energy).
    in_features : int
        Width of the element features ``x`` of the graphs.
    n_systems : int, default=7
        Number of crystal-system prompts.
    hidden : int, default=128
    n_heads : int, default=4
    n_gnn_layers : int, default=3
    n_cross_layers : int, default=2
        Cross-attention layers energies → atoms before the two paths.
    n_self_layers : int, default=2
        Self-attention layers in each path.
    n_cross_layers_out : int, default=1
        Cross-attention layers energies → atoms at the end of each path.
    dropout : float, default=0.1
    cutoff : float, default=5.0
        Graph cutoff in Å (for the radial basis).
    n_basis : int, default=32
    pooling : {"sum", "mean"}, default="mean"
    composition_stats : bool, default=True
        Add Magpie-style statistics of the element features to the crystal vector.
    n_crystal_attr : int, default=2
        Width of the graphs' ``crystal_attr``.

    Notes
    -----
    In training mode ``forward`` returns ``(system_path, global_path)``, both
    ``[batch_size, n_energies]``, for the loss RMSE(global) + β·RMSE(system); in
    eval mode it returns the system path alone. A crystal system whose prompt
    was not trained (``trained_systems`` False) uses the mean of the trained
    prompts.
    """

    def __init__(
        self,
        n_energies: int,
        in_features: int,
        n_systems: int = 7,
        hidden: int = 128,
        n_heads: int = 4,
        n_gnn_layers: int = 3,
        n_cross_layers: int = 2,
        n_self_layers: int = 2,
        n_cross_layers_out: int = 1,
        dropout: float = 0.1,
        cutoff: float = 5.0,
        n_basis: int = 32,
        pooling: str = "mean",
        composition_stats: bool = True,
        n_crystal_attr: int = 2,
    ):
        super().__init__()
        self.encoder = GraphNetworkEncoder(
            in_features, hidden, n_gnn_layers, cutoff, n_basis, dropout=dropout
        )
        self.readout = CrystalReadout(
            hidden, in_features, n_crystal_attr, pooling, composition_stats, dropout
        )
        self.energy_tokens = nn.Embedding(n_energies, hidden)
        self.cross_attention = CrossAttention(hidden, n_heads, n_cross_layers, dropout)
        self.system_prompts = nn.Embedding(n_systems, hidden)
        self.register_buffer("trained_systems", torch.ones(n_systems, dtype=torch.bool))
        self.global_path = _TokenPath(hidden, n_heads, n_self_layers, n_cross_layers_out, dropout)
        self.system_path = _TokenPath(hidden, n_heads, n_self_layers, n_cross_layers_out, dropout)
        self.decoder = mlp(hidden, hidden, 1, dropout=dropout)

    def prompts(self, system: torch.Tensor) -> torch.Tensor:
        """System prompts ``[batch_size, hidden]`` for system indices ``[batch_size]``.

        Indices outside ``[0, n_systems)`` or of untrained systems get the mean
        of the trained prompts.
        """
        weight = self.system_prompts.weight
        mean_prompt = weight[self.trained_systems].mean(dim=0)
        n_systems = weight.size(0)
        valid = (system >= 0) & (system < n_systems)
        safe = system.clamp(0, n_systems - 1)
        known = valid & self.trained_systems[safe]
        return torch.where(known[:, None], weight[safe], mean_prompt)

    def forward(self, data):
        """Predict the DOS of a batch of crystals.

        Parameters
        ----------
        data : torch_geometric.data.Batch
            With ``x`` ``[num_nodes, in_features]``, ``z`` ``[num_nodes]``,
            ``edge_index`` ``[2, num_edges]``, ``edge_length`` ``[num_edges]``,
            ``crystal_attr`` ``[batch_size, n_crystal_attr]``, ``system``
            ``[batch_size]`` and ``batch`` ``[num_nodes]``.

        Returns
        -------
        torch.Tensor of shape [batch_size, n_energies], or a pair of them in training mode.
        """
        h = self.encoder(data.x, data.z, data.edge_index, data.edge_length)
        crystal_vector = self.readout(h, data.x, data.batch, data.crystal_attr)
        batch_size = crystal_vector.size(0)
        atoms, is_atom = to_dense_batch(h, data.batch, batch_size=batch_size)
        padding_mask = ~is_atom
        energy_tokens = self.energy_tokens.weight.expand(batch_size, -1, -1)
        energy_tokens = self.cross_attention(energy_tokens, atoms, padding_mask)
        crystal_token = crystal_vector[:, None]
        prompt_token = self.prompts(data.system)[:, None]
        system_tokens = self.system_path(
            energy_tokens, torch.cat([crystal_token, prompt_token], dim=1), atoms, padding_mask
        )
        system_dos = self.decoder(system_tokens).squeeze(-1)
        if not self.training:
            return system_dos
        global_tokens = self.global_path(energy_tokens, crystal_token, atoms, padding_mask)
        return system_dos, self.decoder(global_tokens).squeeze(-1)


class DOSTransformerLoss(nn.Module):
    """RMSE(global path) + β · RMSE(system path); RMSE alone for a single prediction.

    Parameters
    ----------
    beta : float, default=1.0
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)

    def forward(self, prediction, target):
        """Loss of ``prediction`` ``[batch, n_energies]`` (or a ``(system, global)`` pair)."""
        if isinstance(prediction, (tuple, list)):
            system_dos, global_dos = prediction
            return rmse_loss(global_dos, target) + self.beta * rmse_loss(system_dos, target)
        return rmse_loss(prediction, target)


def rmse_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Root mean squared error over every entry of the batch."""
    return torch.sqrt(torch.mean((prediction - target) ** 2) + 1e-12)
