"""Attention blocks: energy tokens attending to atoms, and to each other."""

from __future__ import annotations

from torch import nn


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


class CrossAttention(nn.Module):
    """A stack of :class:`CrossAttentionLayer` (identity when ``n_layers`` is 0)."""

    def __init__(self, hidden: int, n_heads: int, n_layers: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            CrossAttentionLayer(hidden, n_heads, dropout) for _ in range(n_layers)
        )

    def forward(self, tokens, atoms, padding_mask):
        """Shapes as in :meth:`CrossAttentionLayer.forward`."""
        for layer in self.layers:
            tokens = layer(tokens, atoms, padding_mask)
        return tokens


def self_attention(hidden: int, n_heads: int, n_layers: int, dropout: float = 0.0) -> nn.Module:
    """Pre-norm transformer encoder over a token sequence ``[batch, n_tokens, hidden]``.

    Identity when ``n_layers`` is 0.
    """
    if n_layers == 0:
        return nn.Identity()
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
