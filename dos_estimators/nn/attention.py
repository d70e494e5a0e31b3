"""Attention blocks: energy tokens attending to atoms, and to each other.

Two kinds, chosen by name: ``"standard"`` (``nn.MultiheadAttention`` with query,
key, value and output projections, pre-norm, SiLU feed-forward of twice the
width) and ``"paper"`` (the released DOSTransformer code: scaled dot products of
the normalised tokens themselves, no projections, a ReLU feed-forward of four
times the width and a final norm after the stack).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ATTENTIONS = ("standard", "paper")


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention of query tokens to a padded set of atoms, then a feed-forward.

    Parameters
    ----------
    hidden : int
    n_heads : int
    dropout : float, default=0.0
    """

    def __init__(self, hidden: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.query_norm = nn.LayerNorm(hidden)
        self.key_norm = nn.LayerNorm(hidden)
        self.attention = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.ff_norm = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden, 2 * hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens, atoms, padding_mask):
        """Update tokens with what they read from the atoms.

        Parameters
        ----------
        tokens : torch.Tensor of shape [batch_size, n_tokens, hidden]
        atoms : torch.Tensor of shape [batch_size, max_atoms, hidden]
        padding_mask : torch.Tensor of shape [batch_size, max_atoms], dtype bool
            True where ``atoms`` is padding; those keys are ignored, so a
            crystal's result does not depend on the others in the batch.

        Returns
        -------
        torch.Tensor of shape [batch_size, n_tokens, hidden]
        """
        keys = self.key_norm(atoms)
        read, _ = self.attention(
            self.query_norm(tokens), keys, keys, key_padding_mask=padding_mask, need_weights=False
        )
        tokens = tokens + self.dropout(read)
        return tokens + self.dropout(self.feed_forward(self.ff_norm(tokens)))


class PaperAttentionLayer(nn.Module):
    """Attention without projections, as in the released DOSTransformer code.

    Queries and keys are the tokens and atoms themselves after one shared
    layer norm; values are the normalised atoms; weights are
    ``softmax(q kᵀ / √d)`` with ``d`` the width of a head. A pre-norm ReLU
    feed-forward of four times the width follows. Unlike the released code,
    padded atoms are masked out, so a crystal's result does not depend on the
    batch it is in.

    Parameters
    ----------
    hidden : int
    n_heads : int
        The width is split into heads (the released model has one).
    dropout : float, default=0.0
        Dropout on the attention weights.
    """

    def __init__(self, hidden: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.norm = nn.LayerNorm(hidden)
        self.ff_norm = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.ReLU(), nn.Linear(4 * hidden, hidden)
        )
        for layer in self.feed_forward[::2]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _heads(self, x):
        batch, length, width = x.shape
        return x.view(batch, length, self.n_heads, width // self.n_heads).transpose(1, 2)

    def forward(self, tokens, atoms, padding_mask=None):
        """Same shapes as :meth:`CrossAttentionLayer.forward`; ``padding_mask`` may be None."""
        queries, keys = self.norm(tokens), self.norm(atoms)
        mask = None if padding_mask is None else ~padding_mask[:, None, None, :]
        read = F.scaled_dot_product_attention(
            self._heads(queries),
            self._heads(keys),
            self._heads(keys),
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        tokens = tokens + read.transpose(1, 2).flatten(2)
        return tokens + self.feed_forward(self.ff_norm(tokens))


class CrossAttention(nn.Module):
    """A stack of attention layers from tokens to a padded set of atoms.

    Parameters
    ----------
    hidden, n_heads, n_layers : int
        Identity when ``n_layers`` is 0.
    dropout : float, default=0.0
    kind : {"standard", "paper"}, default="standard"
        :class:`CrossAttentionLayer` or :class:`PaperAttentionLayer`; the
        ``"paper"`` stack ends with a layer norm, as the released code's does.
    """

    def __init__(
        self,
        hidden: int,
        n_heads: int,
        n_layers: int,
        dropout: float = 0.0,
        kind: str = "standard",
    ):
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention={kind!r} is not one of {ATTENTIONS}.")
        layer = CrossAttentionLayer if kind == "standard" else PaperAttentionLayer
        self.layers = nn.ModuleList(layer(hidden, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(hidden) if kind == "paper" and n_layers else nn.Identity()

    def forward(self, tokens, atoms, padding_mask):
        """Shapes as in :meth:`CrossAttentionLayer.forward`."""
        for layer in self.layers:
            tokens = layer(tokens, atoms, padding_mask)
        return self.norm(tokens)


class _SelfAttention(nn.Module):
    """A :class:`CrossAttention` stack of the tokens on the stack's input tokens.

    As in the released code, every layer takes its keys and values from the
    tokens that entered the stack, not from the previous layer's output.
    """

    def __init__(self, stack: CrossAttention):
        super().__init__()
        self.stack = stack

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.stack(tokens, tokens, None)


def self_attention(
    hidden: int, n_heads: int, n_layers: int, dropout: float = 0.0, kind: str = "standard"
) -> nn.Module:
    """Transformer encoder over a token sequence ``[batch, n_tokens, hidden]``.

    ``kind="standard"``: torch's pre-norm ``nn.TransformerEncoder``; ``"paper"``:
    :class:`PaperAttentionLayer` s of the tokens on themselves. Identity when
    ``n_layers`` is 0.
    """
    if n_layers == 0:
        return nn.Identity()
    if kind == "paper":
        return _SelfAttention(CrossAttention(hidden, n_heads, n_layers, dropout, kind="paper"))
    if kind != "standard":
        raise ValueError(f"attention={kind!r} is not one of {ATTENTIONS}.")
    layer = nn.TransformerEncoderLayer(
        hidden,
        n_heads,
        dim_feedforward=2 * hidden,
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
