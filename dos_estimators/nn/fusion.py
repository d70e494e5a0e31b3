"""Fusions: how context vectors (the crystal vector, a prompt) meet DOSTransformer's tokens.

A fusion takes the energy tokens ``[batch_size, n_energies, hidden]`` and a list of
context vectors, each ``[batch_size, width]``, and returns what a token path reads:
``(tokens, extra_tokens)``, the tokens that become the DOS and the tokens that only
take part in the path's self-attention (or None).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FUSIONS = ("tokens", "concat")


class TokenFusion(nn.Module):
    """Context vectors as extra tokens beside the energy tokens; no parameters.

    Every context vector must be ``hidden`` wide.
    """

    def forward(
        self, energy_tokens: torch.Tensor, context: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy tokens as given, and the context as tokens.

        Parameters
        ----------
        energy_tokens : torch.Tensor of shape [batch_size, n_energies, hidden]
        context : list of torch.Tensor of shape [batch_size, hidden]

        Returns
        -------
        tokens : torch.Tensor of shape [batch_size, n_energies, hidden]
            ``energy_tokens`` itself.
        extra_tokens : torch.Tensor of shape [batch_size, len(context), hidden]
        """
        return energy_tokens, torch.stack(context, dim=1)


class ConcatFusion(nn.Linear):
    """Context concatenated onto every energy token, projected back to ``hidden`` (released code).

    ``leaky_relu(W [e_j ‖ c_1 ‖ … ‖ c_k] + b)`` for each energy token ``e_j``. The
    projection is the module's own ``weight`` and ``bias``, as in an ``nn.Linear`` of
    ``hidden + context_width`` inputs and ``hidden`` outputs.

    Parameters
    ----------
    hidden : int
        Width of the energy tokens and of the fused tokens.
    context_width : int
        Total width of the context vectors.
    """

    def __init__(self, hidden: int, context_width: int):
        super().__init__(hidden + context_width, hidden)

    def forward(
        self, energy_tokens: torch.Tensor, context: list[torch.Tensor]
    ) -> tuple[torch.Tensor, None]:
        """Fused tokens, and no extra tokens.

        Parameters
        ----------
        energy_tokens : torch.Tensor of shape [batch_size, n_energies, hidden]
        context : list of torch.Tensor of shape [batch_size, width_i]
            Widths summing to ``context_width``.

        Returns
        -------
        tokens : torch.Tensor of shape [batch_size, n_energies, hidden]
        extra_tokens : None
        """
        n_energies = energy_tokens.size(1)
        context = [c[:, None].expand(-1, n_energies, -1) for c in context]
        return F.leaky_relu(super().forward(torch.cat([energy_tokens, *context], dim=-1))), None


def context_fusion(kind: str, hidden: int, context_width: int) -> nn.Module:
    """The fusion called ``kind`` (one of :data:`FUSIONS`) of ``context_width`` of context."""
    if kind == "tokens":
        return TokenFusion()
    if kind == "concat":
        return ConcatFusion(hidden, context_width)
    raise ValueError(f"fusion={kind!r} is not one of {FUSIONS}.")
