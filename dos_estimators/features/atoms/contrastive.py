"""Atom embeddings learned contrastively against the DOS (Mat2Spec-style)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from .learned import SiteEmbedding


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class _Contrastive(nn.Module):
    """A site encoder (mean-pooled, projected) and a DOS encoder into one space."""

    def __init__(self, n_sites_in: int, n_energies: int, hidden: int, latent: int, proj: int):
        super().__init__()
        self.sites = _mlp(n_sites_in, hidden, latent)
        self.crystal_head = _mlp(latent, hidden, proj)
        self.dos = _mlp(n_energies, hidden, proj)

    def loss(self, sites, owner, n_crystals, dos, temperature):
        """Symmetric InfoNCE: each crystal's embedding must pick its own DOS in the batch.

        ``sites`` ``[n_sites, D]``, ``owner`` ``[n_sites]`` (crystal of each site, 0…B−1),
        ``dos`` ``[B, n_energies]``.
        """
        crystal = scatter(self.sites(sites), owner, dim=0, dim_size=n_crystals, reduce="mean")
        a = F.normalize(self.crystal_head(crystal), dim=-1)
        b = F.normalize(self.dos(dos), dim=-1)
        logits = a @ b.T / temperature
        labels = torch.arange(n_crystals)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


class ContrastiveAtomEmbedding(SiteEmbedding):
    """Per-site embeddings from a site encoder trained to match each crystal to its DOS.

    As in Mat2Spec (Kong et al., Nat. Commun. 13, 949, 2022), a structure encoder
    and a DOS encoder map into one space and are trained with InfoNCE over the
    batch: a crystal's embedding must be closer to its own DOS's than to the other
    crystals' DOS. The structure encoder here is a per-site perceptron over the
    site descriptors (:func:`~dos_estimators.features.site_descriptors`),
    mean-pooled and projected; after training, its per-site outputs (before
    pooling) are the embedding. Supervised: ``fit`` needs the DOS ``y`` of the
    training crystals, which an estimator passes when it fits the embedding.

    Parameters
    ----------
    latent_dim : int, default=32
        Width of the per-site embedding.
    projection_dim : int, default=32
        Width of the shared space.
    hidden : int, default=128
    temperature : float, default=0.1
    max_epochs : int, default=100
    batch_size : int, default=128
        Crystals per batch (the negatives of each crystal are the others in its batch).
    lr : float, default=1e-3
    table : str, default="magpie"
    cutoff : float, default=6.0
    n_bins : int, default=12
    random_state : int, RandomState or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    module_ : torch.nn.Module
    scaler_ : Standardizer
    history_ : list of float
        Training loss per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from pymatgen.core import Lattice, Structure
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (2.8, 3.0, 3.2)]
    >>> y = np.random.default_rng(0).random((3, 51))
    >>> emb = ContrastiveAtomEmbedding(latent_dim=4, max_epochs=2, random_state=0).fit(X, y)
    >>> emb.transform(X)[0].shape
    (2, 4)
    """

    def __init__(
        self,
        latent_dim=32,
        projection_dim=32,
        hidden=128,
        temperature=0.1,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        table="magpie",
        cutoff=6.0,
        n_bins=12,
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.projection_dim = projection_dim
        self.hidden = hidden
        self.temperature = temperature
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.table = table
        self.cutoff = cutoff
        self.n_bins = n_bins
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, structures, y=None):
        """Train both encoders on ``structures`` and their DOS ``y`` ``(n_samples, n_energies)``."""
        if y is None:
            raise ValueError(
                "ContrastiveAtomEmbedding learns from the DOS: fit(structures, y) needs y."
            )
        self._check_integers("latent_dim", "projection_dim")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {self.temperature!r}.")
        Y = np.asarray(y, dtype=np.float32)
        if Y.ndim != 2 or len(Y) != len(structures):
            raise ValueError(
                f"y must have shape (n_samples, n_energies) with n_samples={len(structures)}, "
                f"got {Y.shape}."
            )
        if len(structures) < 2:
            raise ValueError("ContrastiveAtomEmbedding needs at least 2 crystals to contrast.")
        per_crystal = self._scaled_sites(structures, fitting=True)
        scale = Y.max(axis=1, keepdims=True)
        dos = torch.from_numpy(Y / np.where(scale > 0, scale, 1.0))

        def batch_loss(batch):
            chosen = [per_crystal[i] for i in batch.tolist()]
            counts = torch.tensor([len(sites) for sites in chosen])
            owner = torch.repeat_interleave(torch.arange(len(batch)), counts)
            return self.module_.loss(
                torch.cat(chosen), owner, len(batch), dos[batch], self.temperature
            )

        self._train(
            lambda: _Contrastive(
                per_crystal[0].shape[1],
                Y.shape[1],
                self.hidden,
                self.latent_dim,
                self.projection_dim,
            ),
            batch_loss,
            len(structures),
            "contrastive",
        )
        return self

    def _encode_sites(self, sites):
        return self.module_.sites(sites)

    def _module_from_state(self, weights):
        """Both encoders with ``weights`` (a state dict), for loading a model file."""
        module = _Contrastive(
            weights["sites.0.weight"].shape[1],
            weights["dos.0.weight"].shape[1],
            self.hidden,
            self.latent_dim,
            self.projection_dim,
        )
        module.load_state_dict(weights)
        return module.eval()
