"""Energy encodings: one token per point of the DOS grid, for DOSTransformer.

A grid is given to the encodings as *positions*: fractional indices of the
training grid, so the training grid is ``0, 1, …, n_energies − 1`` (evenly
spaced or not) and a grid twice as fine is ``0, 0.5, 1, …``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ENERGY_ENCODINGS = ("learned", "sinusoidal", "continuous")


class LearnedEnergyEncoding(nn.Module):
    """One learned vector per grid index (the paper's energy embedding).

    Parameters
    ----------
    n_energies : int
        Length of the training grid.
    hidden : int
    """

    def __init__(self, n_energies: int, hidden: int):
        super().__init__()
        self.n_energies = n_energies
        self.table = nn.Embedding(n_energies, hidden)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """``[n_energies]`` positions → ``[n_energies, hidden]`` tokens.

        Raises
        ------
        ValueError
            If ``positions`` is not the training grid: a table of tokens has no
            entry between or beyond its indices.
        """
        index = torch.arange(self.n_energies, device=positions.device)
        if positions.shape != index.shape or not torch.equal(positions, index.to(positions)):
            raise ValueError(
                "a learned energy encoding has one token per training-grid point and cannot "
                "predict on another grid; use energy_encoding='sinusoidal' or 'continuous'."
            )
        return self.table.weight


class SinusoidalEnergyEncoding(nn.Module):
    """Fixed sines and cosines of the position (Vaswani et al.), no parameters.

    Defined for any real position, so a model predicts on any grid within (and,
    less reliably, beyond) the training range.

    Parameters
    ----------
    hidden : int
        Even width of the tokens.
    """

    def __init__(self, hidden: int):
        super().__init__()
        if hidden % 2:
            raise ValueError(f"a sinusoidal energy encoding needs an even width, got {hidden}.")
        frequencies = torch.exp(torch.arange(0, hidden, 2) * (-math.log(10000.0) / hidden))
        self.register_buffer("frequencies", frequencies)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """``[n_energies]`` → ``[n_energies, hidden]``."""
        angles = positions[:, None] * self.frequencies
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


class ContinuousEnergyEncoding(nn.Module):
    """A small MLP of the energy, scaled to [0, 1] over the training grid.

    Parameters
    ----------
    n_energies : int
        Length of the training grid (sets the scale).
    hidden : int
    """

    def __init__(self, n_energies: int, hidden: int):
        super().__init__()
        self.scale = 1.0 / max(n_energies - 1, 1)
        self.mlp = nn.Sequential(
            nn.Linear(1, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
        )

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """``[n_energies]`` → ``[n_energies, hidden]``."""
        return self.mlp(positions[:, None] * self.scale)


def energy_encoding(kind: str, n_energies: int, hidden: int) -> nn.Module:
    """The energy encoding called ``kind`` (one of :data:`ENERGY_ENCODINGS`)."""
    if kind == "learned":
        return LearnedEnergyEncoding(n_energies, hidden)
    if kind == "sinusoidal":
        return SinusoidalEnergyEncoding(hidden)
    if kind == "continuous":
        return ContinuousEnergyEncoding(n_energies, hidden)
    raise ValueError(f"energy_encoding={kind!r} is not one of {ENERGY_ENCODINGS}.")
