"""DOS heads: read a DOS vector out of a crystal vector, whole or one energy at a time.

The two forms of the DOSTransformer paper's baselines ("energy ✗" and
"energy ✓", its appendix D), shared by every baseline network; and
DOSTransformer's decoder, which reads one DOS value out of each energy token.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import mlp

HEADS = ("mlp", "linear")


class VectorHead(nn.Module):
    """Map a crystal vector to the whole DOS at once ("energy ✗").

    Parameters
    ----------
    hidden : int
        Width of the crystal vector and of the hidden layer.
    n_energies : int
    dropout : float, default=0.0
    """

    def __init__(self, hidden: int, n_energies: int, dropout: float = 0.0):
        super().__init__()
        self.mlp = mlp(hidden, hidden, n_energies, dropout=dropout)

    def forward(self, crystal_vector: torch.Tensor) -> torch.Tensor:
        """``[batch_size, hidden]`` → ``[batch_size, n_energies]``."""
        return self.mlp(crystal_vector)


class EnergyHead(nn.Module):
    """Predict the DOS one energy at a time from ``φ([E_j ‖ g])`` ("energy ✓").

    ``E_j`` is a learned embedding of the *j*-th energy of the grid and ``g``
    the crystal vector; the same MLP φ gives every energy's value, so energies
    share what they learn about the crystal.

    Parameters
    ----------
    hidden : int
        Width of the crystal vector, of the energy embeddings and of φ's hidden layer.
    n_energies : int
    dropout : float, default=0.0
    """

    def __init__(self, hidden: int, n_energies: int, dropout: float = 0.0):
        super().__init__()
        self.energy_embedding = nn.Embedding(n_energies, hidden)
        self.mlp = mlp(2 * hidden, hidden, 1, dropout=dropout)

    def forward(self, crystal_vector: torch.Tensor) -> torch.Tensor:
        """``[batch_size, hidden]`` → ``[batch_size, n_energies]``."""
        batch_size, hidden = crystal_vector.shape
        energies = self.energy_embedding.weight
        n_energies = energies.size(0)
        pairs = torch.cat(
            [
                energies.expand(batch_size, n_energies, hidden),
                crystal_vector[:, None].expand(batch_size, n_energies, hidden),
            ],
            dim=-1,
        )
        return self.mlp(pairs).squeeze(-1)


def dos_head(use_energy: bool, hidden: int, n_energies: int, dropout: float = 0.0) -> nn.Module:
    """The pointwise :class:`EnergyHead` if ``use_energy`` else the :class:`VectorHead`."""
    head = EnergyHead if use_energy else VectorHead
    return head(hidden, n_energies, dropout=dropout)


def token_decoder(kind: str, hidden: int, dropout: float = 0.0) -> nn.Module:
    """DOSTransformer's decoder: one DOS value per token, ``[..., hidden]`` → ``[..., 1]``.

    Parameters
    ----------
    kind : {"mlp", "linear"}
        A two-layer :func:`~dos_estimators.nn.layers.mlp`, or one linear layer (the
        released code).
    hidden : int
    dropout : float, default=0.0
        Dropout of the MLP's hidden layer.
    """
    if kind == "mlp":
        return mlp(hidden, hidden, 1, dropout=dropout)
    if kind == "linear":
        return nn.Linear(hidden, 1)
    raise ValueError(f"heads={kind!r} is not one of {HEADS}.")
