"""DOSTransformer (Lee et al., NeurIPS 2023): energy tokens that read a crystal graph.

A graph network embeds the atoms; one token per energy attends to the atoms,
then to each other together with the crystal vector (global path) and, in a
second path, also with a prompt for the crystal system; each path attends to
the atoms again and a shared decoder reads one DOS value per token.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import torch
from torch import nn
from torch_geometric.utils import to_dense_batch

from .attention import CrossAttention, self_attention
from .encoders import graph_encoder
from .energy import energy_encoding as make_energy_encoding
from .fusion import FUSIONS, ConcatFusion, TokenFusion, context_fusion
from .heads import HEADS, token_decoder
from .layers import CrystalReadout, with_encoded_atoms
from .prompts import PROMPTS, lookup_prompts, onehot_prompts, prompt_width

__all__ = [
    "FUSIONS",
    "HEADS",
    "PRIOR_READOUTS",
    "PROMPTS",
    "DOSTransformer",
    "DOSTransformerLoss",
    "rmse_loss",
]

PRIOR_READOUTS = ("masked", "add", "stretch")
"""How a path's read-out combines the prior and the network's correction (see
:class:`DOSTransformer`'s ``prior_readout``)."""
STRETCH_START = 4.0
"""``prior_readout="stretch"``: the logit of the middle scale at initialisation (minus it
for the others), so that an untrained network starts (almost) on the fitted scale."""


def _check_options(**values) -> None:
    """Raise ``ValueError`` for a ``fusion``, ``prompt``, ``heads`` or ``prior_readout`` that
    is not an option."""
    known = {"fusion": FUSIONS, "prompt": PROMPTS, "heads": HEADS, "prior_readout": PRIOR_READOUTS}
    for name, value in values.items():
        options = known[name]
        if value not in options:
            raise ValueError(f"{name}={value!r} is not one of {options}.")


class _TokenPath(nn.Module):
    """Self-attention over the energy (and any extra) tokens, then cross-attention to atoms."""

    def __init__(self, hidden, n_heads, n_self_layers, n_cross_layers_out, dropout, attention):
        super().__init__()
        self.self_attention = self_attention(hidden, n_heads, n_self_layers, dropout, attention)
        self.cross_attention = CrossAttention(
            hidden, n_heads, n_cross_layers_out, dropout, kind=attention
        )

    def forward(self, energy_tokens, extra_tokens, atoms, padding_mask):
        """Energy tokens ``[batch, n_energies, hidden]`` after the path.

        ``extra_tokens`` ``[batch, n_extra, hidden]`` (or None) join the self-attention
        only; ``atoms`` ``[batch, max_atoms, hidden]`` with ``padding_mask``
        ``[batch, max_atoms]`` (True at padding) are read by the cross-attention.
        """
        n_energies = energy_tokens.size(1)
        tokens = energy_tokens
        if extra_tokens is not None:
            tokens = torch.cat([energy_tokens, extra_tokens], dim=1)
        tokens = self.self_attention(tokens)
        return self.cross_attention(tokens[:, :n_energies], atoms, padding_mask)


class DOSTransformer(nn.Module):
    """Prompt-guided multi-modal transformer for DOS prediction.

    Every variant studied in the package (the released code's architecture,
    ours, and the ablations between them) is one configuration of this module.

    Parameters
    ----------
    n_energies : int
        Length of the training DOS grid.
    in_features : int
        Width of the node features: the graphs' ``x``, plus the columns of
        ``atom_encoder`` when one is set.
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
        Graph cutoff in Å (for the edge basis).
    n_basis : int, default=32
    pooling : {"sum", "mean"}, default="mean"
    composition_stats : bool, default=True
        Add Magpie-style statistics of the element features to the crystal vector.
    n_crystal_attr : int, default=2
        Width of the graphs' ``crystal_attr`` used in the crystal vector (0: none).
    encoder : {"graph_network", "paper"}, default="graph_network"
        :class:`GraphNetworkEncoder` or the released code's :class:`PaperGraphNetworkEncoder`.
    edge_basis : {"gaussian", "spherical"}, default="gaussian"
    attention : {"standard", "paper"}, default="standard"
        See :mod:`dos_estimators.nn.attention`.
    fusion : {"tokens", "concat"}, default="tokens"
        How the crystal vector (and the prompt) meet the energy tokens:
        appended as extra tokens to the self-attention, or (released code)
        concatenated onto every energy token and projected back to ``hidden``
        by a linear layer and a leaky ReLU.
    share_paths : bool, default=False
        The global and system paths use the same self- and cross-attention
        weights (released code), so the global-path loss trains the weights
        that predict.
    prompt : {"learned", "onehot", None}, default="learned"
        Learned prompt per system; a fixed one-hot vector (zero-padded);
        or no system path at all (the global path predicts).
    energy_encoding : {"learned", "sinusoidal", "continuous"}, default="learned"
        See :mod:`dos_estimators.nn.energy`.
    heads : {"mlp", "linear"}, default="mlp"
        Crystal read-out and DOS decoder: two-layer MLPs, or single linear
        layers (released code).
    n_prior : int, default=0
        Channels of a physics prior per energy (the graphs' ``prior``
        ``[batch_size, n_energies, n_prior]``, e.g. a universal potential's phonon DOS
        at a few smearings). Each energy token adds a linear map of its channels to its
        energy encoding, and each path's read-out adds a learned multiple (starting at
        1) of channel 0: the network learns the correction to the prior, which starts at
        zero (the decoder's last layer is zero-initialised). 0: no prior.
    prior_readout : {"masked", "add", "stretch"}, default="masked"
        With a prior: ``"masked"`` multiplies the correction by the last channel (the
        prior at its widest smearing, max-scaled), so that it vanishes where the
        potential has no modes (towards zero frequency, above its highest mode);
        ``"add"`` adds it everywhere (see ``docs/phonons.md`` for how they compare).
        ``"stretch"``: the channels are the prior at K frequency scales (the fitted one
        times each of ``estimators.prior.PRIOR_STRETCHES``), then the same K at the widest
        smearing, then one sharper channel (``n_prior = 2K + 1``); a linear map of the
        crystal vector gives softmax weights over the K scales, and the read-out adds
        that mixture of the prior (a learned per-crystal frequency scale), the correction
        masked by the same mixture of the wide channels. The weights start on the middle
        scale (the fitted one).

    Notes
    -----
    In training mode with a prompt ``forward`` returns ``(system_path,
    global_path)``, both ``[batch_size, n_energies]``, for the loss
    RMSE(global) + β·RMSE(system); in eval mode it returns the system path
    alone. A crystal system whose prompt was not trained (``trained_systems``
    False) uses the mean of the trained prompts. The grid is the buffer
    ``positions`` (see :mod:`dos_estimators.nn.energy`); the estimator swaps it
    to predict on another grid.

    Each option picks one piece: ``encoder`` the :func:`~dos_estimators.nn.encoders.graph_encoder`,
    ``fusion`` the paths' :mod:`~dos_estimators.nn.fusion` modules (``fuse_global``,
    ``fuse_system``), ``prompt`` the table of :mod:`~dos_estimators.nn.prompts`
    (``system_prompts`` or the buffer ``onehot_prompts``), ``heads`` the read-outs
    (:class:`CrystalReadout` and the :func:`~dos_estimators.nn.heads.token_decoder`
    ``decoder``). These attribute names are the keys of the state dict that model
    files store, and the pieces are built in an order fixed by the random numbers
    their initialisation draws: both must stay as they are for saved models to load
    and predict as before.
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
        encoder: str = "graph_network",
        edge_basis: str = "gaussian",
        attention: str = "standard",
        fusion: str = "tokens",
        share_paths: bool = False,
        prompt: str | None = "learned",
        energy_encoding: str = "learned",
        heads: str = "mlp",
        n_prior: int = 0,
        prior_readout: str = "masked",
    ):
        super().__init__()
        _check_options(fusion=fusion, prompt=prompt, heads=heads, prior_readout=prior_readout)
        # A module computing more node features inside the network (see
        # :func:`~dos_estimators.nn.layers.with_encoded_atoms`); ``in_features`` counts them.
        self.atom_encoder: nn.Module | None = None
        self.encoder = graph_encoder(
            encoder, in_features, hidden, n_gnn_layers, cutoff, n_basis, dropout, edge_basis
        )
        linear = heads == "linear"
        self.readout = CrystalReadout(
            hidden, in_features, n_crystal_attr, pooling, composition_stats, dropout, linear
        )
        self.register_buffer("positions", torch.arange(n_energies, dtype=torch.float32))
        self.energy_encoding = make_energy_encoding(energy_encoding, n_energies, hidden)
        self.cross_attention = CrossAttention(hidden, n_heads, n_cross_layers, dropout, attention)
        self.fusion, self.prompt = fusion, prompt
        width = prompt_width(fusion, hidden)
        self._add_prompts(n_systems, width)
        path = partial(
            _TokenPath, hidden, n_heads, n_self_layers, n_cross_layers_out, dropout, attention
        )
        self.global_path = path()
        if prompt is not None:
            self.system_path = self.global_path if share_paths else path()
        # Each path's fusion of its context: the crystal vector, and the prompt.
        self.fuse_global = context_fusion(fusion, hidden, hidden)
        if prompt is not None:
            self.fuse_system = context_fusion(fusion, hidden, hidden + width)
        self.decoder = token_decoder(heads, hidden, dropout)
        self.n_prior, self.prior_readout = int(n_prior), prior_readout
        if self.n_prior:
            self._add_prior(hidden)

    def _add_prompts(self, n_systems: int, width: int) -> None:
        """The prompt table (``system_prompts`` or ``onehot_prompts``) and ``trained_systems``."""
        if self.prompt == "learned":
            self.system_prompts = nn.Embedding(n_systems, width)
        elif self.prompt == "onehot":
            self.register_buffer("onehot_prompts", onehot_prompts(n_systems, width))
        self.register_buffer("trained_systems", torch.ones(n_systems, dtype=torch.bool))

    def _add_prior(self, hidden: int) -> None:
        """The prior's input map and gate; the decoder's last layer starts at zero."""
        self.prior_projection = nn.Linear(self.n_prior, hidden)
        self.prior_gate = nn.Parameter(torch.ones(()))
        if self.prior_readout == "stretch":
            n_scales = (self.n_prior - 1) // 2
            if self.n_prior < 3 or self.n_prior % 2 == 0:
                raise ValueError(
                    f'prior_readout="stretch" needs n_prior = 2K + 1 >= 3, got {self.n_prior}.'
                )
            # Softmax weights of the scales: at first (almost) all on the middle one.
            self.prior_mixer = nn.Linear(hidden, n_scales)
            with torch.no_grad():
                self.prior_mixer.weight.zero_()
                self.prior_mixer.bias.fill_(-STRETCH_START)
                self.prior_mixer.bias[n_scales // 2] = STRETCH_START
        # The correction starts at zero: an untrained network predicts the prior.
        last = [m for m in self.decoder.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def __setstate__(self, state):
        """Unpickle, upgrading a network pickled by an earlier version of this class."""
        super().__setstate__(state)
        # Networks pickled before fusion modules existed: ``fuse_global`` and
        # ``fuse_system`` were plain linear layers of fusion="concat", or absent.
        for name, needed in (("fuse_global", True), ("fuse_system", self.prompt is not None)):
            layer = self._modules.get(name)
            if type(layer) is nn.Linear:
                layer.__class__ = ConcatFusion  # the same weights, with the fusion's forward
            elif layer is None and needed and self.fusion == "tokens":
                setattr(self, name, TokenFusion())

    @property
    def prompt_table(self) -> torch.Tensor:
        """``[n_systems, prompt_width]`` prompts of every system."""
        if self.prompt == "learned":
            return self.system_prompts.weight
        return self.onehot_prompts

    def prompts(self, system: torch.Tensor) -> torch.Tensor:
        """System prompts ``[batch_size, prompt_width]`` for system indices ``[batch_size]``.

        Indices outside ``[0, n_systems)`` or of untrained systems get the mean
        of the trained prompts.
        """
        return lookup_prompts(self.prompt_table, self.trained_systems, system)

    @contextmanager
    def prompt_tuning(self, systems: list[int], *, only_prompt: bool = True):
        """Fine-tune on crystals of ``systems``: the paper's Table 3 set-up, for a block.

        On entry every system of ``systems`` counts as trained from then on, and a
        learned prompt of one that was not starts as the mean prompt it got until now.
        In the block only the learned prompts and the decoder train
        (``only_prompt=True``), or every parameter. On exit every parameter trains
        again, and the learned prompts of the systems not in ``systems`` are put back
        as they were (they are rows of one tensor, which weight decay moves whole).

        Parameters
        ----------
        systems : list of int
            Indices of the crystal systems of the fine-tuning crystals.
        only_prompt : bool, default=True

        Yields
        ------
        DOSTransformer
            The network itself.
        """
        learned = self.prompt == "learned"
        with torch.no_grad():
            if learned:
                table = self.system_prompts.weight
                unseen = [k for k in systems if not self.trained_systems[k]]
                if unseen:
                    table[unseen] = table[self.trained_systems].mean(0)
                others = [k for k in range(len(self.trained_systems)) if k not in systems]
                kept = table[others].clone()
            self.trained_systems[systems] = True
        self.requires_grad_(not only_prompt)
        if learned:
            self.system_prompts.requires_grad_(True)
        self.decoder.requires_grad_(True)
        try:
            yield self
        finally:
            self.requires_grad_(True)
            if learned:
                with torch.no_grad():
                    self.system_prompts.weight[others] = kept

    def _read_path(self, path, fuse, context, energy_tokens, atoms, padding_mask, prior):
        """DOS ``[batch, n_energies]`` read out of one path.

        ``context`` are the vectors ``[batch, width]`` the path's fusion adds to the
        energy tokens; ``prior`` is ``(base, mask)``, each ``[batch, n_energies]``
        (:meth:`_prior_base`), or None.
        """
        tokens = path(*fuse(energy_tokens, context), atoms, padding_mask)
        dos = self.decoder(tokens).squeeze(-1)
        if prior is None:
            return dos
        base, mask = prior
        if mask is not None:
            dos = dos * mask
        return dos + self.prior_gate * base

    def _prior_base(self, prior, crystal_vector):
        """The prior the read-out adds, and the mask of the correction (None: unmasked).

        ``prior`` ``[batch, n_energies, n_prior]``; ``crystal_vector`` ``[batch, hidden]``.
        """
        # getattr: networks pickled before the masked read-out existed added everywhere.
        readout = getattr(self, "prior_readout", "add")
        if readout != "stretch":
            return prior[..., 0], (prior[..., -1] if readout == "masked" else None)
        n_scales = self.prior_mixer.out_features
        weights = torch.softmax(self.prior_mixer(crystal_vector), dim=-1).unsqueeze(1)
        base = (prior[..., :n_scales] * weights).sum(-1)
        return base, (prior[..., n_scales : 2 * n_scales] * weights).sum(-1)

    def forward(self, data):
        """Predict the DOS of a batch of crystals.

        Parameters
        ----------
        data : torch_geometric.data.Batch
            With ``x`` ``[num_nodes, in_features]``, ``z`` ``[num_nodes]``,
            ``edge_index`` ``[2, num_edges]``, ``edge_length`` ``[num_edges]``,
            ``edge_vec`` ``[num_edges, 3]``, ``crystal_attr`` ``[batch_size,
            n_crystal_attr]``, ``system`` ``[batch_size]`` and ``batch`` ``[num_nodes]``
            (and ``prior`` ``[batch_size, n_energies, n_prior]`` when ``n_prior``).

        Returns
        -------
        torch.Tensor of shape [batch_size, n_energies], or a pair of them in training mode.
        """
        # getattr: networks pickled before atom encoders existed have no such attribute.
        data = with_encoded_atoms(data, getattr(self, "atom_encoder", None))
        h = self.encoder(data.x, data.z, data.edge_index, data.edge_length, data.edge_vec)
        crystal_vector = self.readout(h, data.x, data.batch, data.crystal_attr)
        batch_size = crystal_vector.size(0)
        atoms, is_atom = to_dense_batch(h, data.batch, batch_size=batch_size)
        padding_mask = ~is_atom
        energy_tokens = self.energy_encoding(self.positions).expand(batch_size, -1, -1)
        # getattr: networks pickled before priors existed have no such attribute.
        prior = data.prior if getattr(self, "n_prior", 0) else None
        if prior is not None:
            energy_tokens = energy_tokens + self.prior_projection(prior)
            prior = self._prior_base(prior, crystal_vector)
        energy_tokens = self.cross_attention(energy_tokens, atoms, padding_mask)
        read = partial(
            self._read_path,
            energy_tokens=energy_tokens,
            atoms=atoms,
            padding_mask=padding_mask,
            prior=prior,
        )
        if self.prompt is None:
            return read(self.global_path, self.fuse_global, [crystal_vector])
        system_context = [crystal_vector, self.prompts(data.system)]
        system_dos = read(self.system_path, self.fuse_system, system_context)
        if not self.training:
            return system_dos
        return system_dos, read(self.global_path, self.fuse_global, [crystal_vector])


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
