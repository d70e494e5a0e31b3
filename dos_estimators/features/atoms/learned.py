"""What the learned embeddings share: per-site descriptors and one small training loop."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..._cpu import pause
from ..._torch import seeded
from ..._validation import is_integer
from ..elements import element_table
from .union import CACHE


def site_descriptors(structures, table="magpie", cutoff=6.0, n_bins=12) -> list[np.ndarray]:
    """Per-site descriptors: the element, its neighbour shells and its neighbours' chemistry.

    Parameters
    ----------
    structures : sequence of pymatgen.core.Structure
    table : str, default="magpie"
        Element table of the site and of its neighbours.
    cutoff : float, default=6.0
        Neighbour radius in Å.
    n_bins : int, default=12
        Bins of the radial histogram over ``(0, cutoff]``.

    Returns
    -------
    list of numpy.ndarray of shape (n_atoms, 2 * F + n_bins)
        Per site: its element row ``[F]``; how many neighbours lie in each radial
        bin ``[n_bins]``; the mean element row of its neighbours weighted by
        ``1 / r²`` ``[F]`` (zeros for an atom without neighbours). Cached per
        structure content.
    """
    elements = element_table(table)

    def compute(missing):
        out = []
        for structure in missing:
            numbers = np.asarray(structure.atomic_numbers, dtype=np.int64)
            elements.check_numbers(numbers)
            rows = elements.values[numbers].astype(np.float64)
            centres, neighbours, _, lengths = structure.get_neighbor_list(float(cutoff))
            keep = lengths > 1e-8
            centres, neighbours, lengths = centres[keep], neighbours[keep], lengths[keep]
            n = len(numbers)
            shells = np.minimum((lengths / cutoff * n_bins).astype(np.int64), n_bins - 1)
            histogram = np.zeros((n, n_bins))
            np.add.at(histogram, (centres, shells), 1.0)
            weights = 1.0 / lengths**2
            total = np.zeros(n)
            np.add.at(total, centres, weights)
            chemistry = np.zeros_like(rows)
            np.add.at(chemistry, centres, weights[:, None] * rows[neighbours])
            chemistry /= np.maximum(total, 1e-12)[:, None]
            out.append(np.concatenate([rows, histogram, chemistry], axis=1))
        return out

    return CACHE.get_many(("sites", table, float(cutoff), int(n_bins)), structures, compute)


class Standardizer:
    """Column means and scales of stacked per-site rows, learned once, applied to each."""

    def fit(self, arrays):
        stacked = np.concatenate(arrays, axis=0).astype(np.float64)
        self.mean_ = stacked.mean(axis=0).astype(np.float32)
        scale = stacked.std(axis=0)
        self.scale_ = np.where(scale > 1e-8, scale, 1.0).astype(np.float32)
        return self

    def transform(self, arrays):
        return [((a - self.mean_) / self.scale_).astype(np.float32) for a in arrays]


def train_module(
    module, batch_loss, n_items, *, epochs, batch_size, lr, random_state, verbose, desc
):
    """Train ``module`` with Adam on shuffled mini-batches of item indices.

    Parameters
    ----------
    module : torch.nn.Module
    batch_loss : callable
        ``batch_loss(indices) -> scalar tensor`` for a ``LongTensor`` of item indices.
    n_items : int
    epochs, batch_size : int
    lr : float
    random_state : int, RandomState or None
        Seeds the initialisation (done by the caller inside :func:`seeded_from`) and
        the batch order.
    verbose : bool
        A progress bar over epochs.
    desc : str
        Its label.

    Returns
    -------
    list of float
        The mean training loss of each epoch.
    """
    rng = check_random_state(random_state)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    epochs_range = range(epochs)
    if verbose:
        from tqdm.auto import tqdm

        epochs_range = tqdm(epochs_range, desc=desc, unit="epoch")
    history = []
    module.train()
    for _ in epochs_range:
        order = torch.from_numpy(rng.permutation(n_items))
        total = 0.0
        for batch in order.split(batch_size):
            loss = batch_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            pause()
        history.append(total / n_items)
    module.eval()
    return history


def seeded_from(random_state):
    """A context in which torch draws from a seed taken from ``random_state``."""
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return seeded(seed, "cpu")


class SiteEmbedding(BaseEstimator):
    """What the learned embeddings share: site descriptors, their scaling, the training.

    Subclasses list their parameters in ``__init__`` (those used here: ``hidden``,
    ``max_epochs``, ``batch_size``, ``lr``, ``table``, ``cutoff``, ``n_bins``,
    ``random_state``, ``verbose``), and build and train ``module_`` in ``fit``
    through :meth:`_scaled_sites` and :meth:`_train`.
    """

    _INTEGERS = ("hidden", "max_epochs", "batch_size", "n_bins")

    def _check_integers(self, *names):
        for name in (*self._INTEGERS, *names):
            value = getattr(self, name)
            if not (is_integer(value) and value >= 1):
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}.")

    def _scaled_sites(self, structures, fitting: bool) -> list[torch.Tensor]:
        """Standardised site descriptors per structure; with ``fitting``, the scaler is learned."""
        descriptors = site_descriptors(structures, self.table, self.cutoff, self.n_bins)
        if fitting:
            self.scaler_ = Standardizer().fit(descriptors)
        return [torch.from_numpy(d) for d in self.scaler_.transform(descriptors)]

    def _train(self, build, batch_loss, n_items, desc):
        """Build ``module_`` with ``build()`` and train it, both seeded by ``random_state``."""
        with seeded_from(self.random_state):
            self.module_ = build()
            self.history_ = train_module(
                self.module_,
                batch_loss,
                n_items,
                epochs=self.max_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                random_state=self.random_state,
                verbose=self.verbose,
                desc=desc,
            )

    def _encode_sites(self, sites: torch.Tensor) -> torch.Tensor:
        """Per-site embeddings of standardised descriptors ``[n_atoms, D]``."""
        raise NotImplementedError

    def transform(self, structures) -> list[np.ndarray]:
        """Each site's embedding: a list of ``(n_atoms, latent_dim)`` arrays."""
        check_is_fitted(self, "module_")
        with torch.no_grad():
            return [
                self._encode_sites(sites).numpy()
                for sites in self._scaled_sites(structures, fitting=False)
            ]
