"""Crystal-system prompts of DOSTransformer's system path.

A prompt table holds one vector per crystal system: learned (the paper), or a fixed
one-hot vector. A crystal whose system was never trained, or has no valid index, gets
the mean of the trained systems' prompts.
"""

from __future__ import annotations

import torch

PROMPTS = ("learned", "onehot", None)


def prompt_width(fusion: str, hidden: int) -> int:
    """Width of a prompt: a whole token (``fusion="tokens"``), or half of one (``"concat"``).

    The released code concatenates a prompt of half the token width onto each token.
    """
    return hidden if fusion == "tokens" else hidden // 2


def onehot_prompts(n_systems: int, width: int) -> torch.Tensor:
    """Fixed prompts ``[n_systems, width]``: row ``k`` is 1 at column ``k``, 0 elsewhere.

    Raises
    ------
    ValueError
        If ``width < n_systems``.
    """
    if width < n_systems:
        raise ValueError(
            f"a one-hot prompt needs a prompt width of at least {n_systems}, "
            f"got {width} (increase hidden)."
        )
    return torch.eye(n_systems, width)


def lookup_prompts(
    table: torch.Tensor, trained: torch.Tensor, system: torch.Tensor
) -> torch.Tensor:
    """The prompts of crystal systems, the trained prompts' mean for unknown ones.

    Parameters
    ----------
    table : torch.Tensor of shape [n_systems, width]
        Prompt of every system.
    trained : torch.Tensor of shape [n_systems]
        Boolean: which systems' prompts were trained (at least one).
    system : torch.Tensor of shape [batch_size]
        System index of each crystal; indices outside ``[0, n_systems)`` are allowed.

    Returns
    -------
    torch.Tensor of shape [batch_size, width]
        ``table[system]`` for trained systems, ``table[trained].mean(0)`` for the others.
    """
    mean_prompt = table[trained].mean(dim=0)
    n_systems = table.size(0)
    valid = (system >= 0) & (system < n_systems)
    safe = system.clamp(0, n_systems - 1)
    known = valid & trained[safe]
    return torch.where(known[:, None], table[safe], mean_prompt)
