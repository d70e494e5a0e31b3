"""Atom embeddings learned without labels by a variational auto-encoder."""

from __future__ import annotations

import torch
from torch import nn

from .learned import SiteEmbedding


class _VAE(nn.Module):
    """Encoder ``D → hidden → 2·latent`` (mean, log-variance), decoder ``latent → hidden → D``."""

    def __init__(self, n_in: int, hidden: int, latent: int):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent)
        )
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, n_in))

    def encode(self, x):
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        return mean, log_var.clamp(-10.0, 10.0)

    def loss(self, x, beta: float):
        mean, log_var = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        reconstruction = ((self.decoder(z) - x) ** 2).sum(dim=-1)
        kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=-1)
        return (reconstruction + beta * kl).mean()


class VAEAtomEmbedding(SiteEmbedding):
    """Per-site embeddings: the latent mean of a VAE over site descriptors.

    Each site is described by its element, a radial histogram of its neighbours and
    the mean element features of its neighbours
    (:func:`~dos_estimators.features.site_descriptors`). A variational
    auto-encoder learns to reconstruct these descriptors, standardised, through a
    ``latent_dim``-wide Gaussian bottleneck; a site's embedding is its latent mean.
    Unsupervised: ``y`` is ignored. Use it as ``node_features=VAEAtomEmbedding()``
    (or ``"vae"``); the estimator fits it on its training structures.

    Parameters
    ----------
    latent_dim : int, default=16
    hidden : int, default=128
    beta : float, default=1.0
        Weight of the KL term (β-VAE).
    max_epochs : int, default=60
    batch_size : int, default=256
        Sites per batch.
    lr : float, default=1e-3
    table : str, default="magpie"
        Element table of the descriptors.
    cutoff : float, default=6.0
        Neighbour radius of the descriptors, Å.
    n_bins : int, default=12
    random_state : int, RandomState or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    module_ : torch.nn.Module
    scaler_ : Standardizer
        Descriptor means and scales of the training sites.
    history_ : list of float
        Training loss per epoch.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (2.8, 3.0)]
    >>> vae = VAEAtomEmbedding(latent_dim=4, max_epochs=2, random_state=0).fit(X)
    >>> vae.transform(X)[0].shape
    (2, 4)
    """

    def __init__(
        self,
        latent_dim=16,
        hidden=128,
        beta=1.0,
        max_epochs=60,
        batch_size=256,
        lr=1e-3,
        table="magpie",
        cutoff=6.0,
        n_bins=12,
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.beta = beta
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.table = table
        self.cutoff = cutoff
        self.n_bins = n_bins
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, structures, y=None):
        """Train the auto-encoder on every site of ``structures``."""
        self._check_integers("latent_dim")
        if not self.beta >= 0:
            raise ValueError(f"beta must be a number ≥ 0, got {self.beta!r}.")
        sites = torch.cat(self._scaled_sites(structures, fitting=True))
        self._train(
            lambda: _VAE(sites.shape[1], self.hidden, self.latent_dim),
            lambda batch: self.module_.loss(sites[batch], self.beta),
            len(sites),
            "VAE",
        )
        return self

    def _encode_sites(self, sites):
        return self.module_.encode(sites)[0]

    def _module_from_state(self, weights):
        """The auto-encoder with ``weights`` (a state dict), for loading a model file."""
        n_in = weights["encoder.0.weight"].shape[1]
        module = _VAE(n_in, self.hidden, self.latent_dim)
        module.load_state_dict(weights)
        return module.eval()
