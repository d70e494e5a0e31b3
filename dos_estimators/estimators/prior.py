"""The physics prior an estimator's ``prior=`` takes: a universal potential's phonon DOS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import clone

from ..phonons import modes_on_grid

PRIOR_LADDER = (1.0, 0.5, 2.0)
"""Smearings of the prior's channels, as multiples of its ``sigma``; channel 0 is the
prior itself, which the network's read-out adds its correction to, and the last, the
widest, is what ``prior_readout="masked"`` multiplies the correction by."""

PRIOR_STRETCHES = (0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12)
"""``prior_readout="stretch"``: the frequency scales (times the fitted one) among which the
network weighs each crystal's prior. A per-crystal scale chosen from such a list against
the true DOS halves the potential's error on the phonon set (``docs/phonons.md``)."""


def n_prior_channels(readout: str) -> int:
    """The number of prior channels per energy that the read-out ``readout`` takes."""
    return 2 * len(PRIOR_STRETCHES) + 1 if readout == "stretch" else len(PRIOR_LADDER)


def make_prior(spec):
    """A new, unfitted prior from ``prior=``: a potential name (whose smearing and scale
    its ``fit`` chooses on the training crystals) or a ``PotentialPhonons`` (cloned).

    Raises
    ------
    ValueError
        If ``spec`` is neither (an unknown name's message lists the known ones).
    """
    from ..phonons import PotentialPhonons

    if isinstance(spec, str):
        prior = PotentialPhonons(spec, sigma="fit", scale="fit")
        prior._check_params()
        return prior
    if isinstance(spec, PotentialPhonons):
        return clone(spec)
    raise ValueError(
        "prior must be None, a potential name of dos_estimators.phonons.POTENTIALS or a "
        f"dos_estimators.phonons.PotentialPhonons, got {type(spec).__name__}."
    )


def check_prior(spec) -> None:
    """Raise a ValueError naming a ``prior=`` value that :func:`make_prior` refuses."""
    if spec is not None:
        make_prior(spec)


def prior_channels(prior, structures, energies=None, readout="masked") -> np.ndarray:
    """The prior's DOS channels that the read-out ``readout`` takes.

    The smearings of :data:`PRIOR_LADDER`; for ``readout="stretch"``, the prior at the
    scales of :data:`PRIOR_STRETCHES` (times the fitted one), then the same at the
    widest smearing of the ladder, then at its sharpest.

    Returns
    -------
    numpy.ndarray of shape (n_structures, n_energies, n_prior_channels(readout))
        Each channel max-scaled, on ``energies`` (None: the grid the prior was fitted on).
    """
    sigma, scale = prior.smearing()
    sigmas = [sigma * factor for factor in PRIOR_LADDER]
    if readout != "stretch":
        return prior.transform(structures, sigma=sigmas, energies=energies)
    # One look-up of the modes for all the scaled channels.
    modes = prior.modes(structures)
    grid = prior.energies_ if energies is None else energies
    wide, sharp = max(sigmas), min(sigmas)
    stretched = [
        modes_on_grid(modes, grid, [sigma, wide], scale * factor) for factor in PRIOR_STRETCHES
    ]
    return np.concatenate(
        [np.stack([s[..., k] for s in stretched], -1) for k in (0, 1)]
        + [modes_on_grid(modes, grid, [sharp], scale)],
        axis=-1,
    )


def rehome_prior(model, cache=None, device=None):
    """Point the prior of a loaded model at this machine's caches and device.

    A model file keeps the ``cache`` its prior was fitted with, which may name folders
    and files of another machine. Of those, only the priors files (``.npz``) that exist
    here are kept, after ``cache``; nothing is written outside ``cache``.

    Parameters
    ----------
    model : estimator
        A fitted estimator; one without a fitted prior (``prior_``) is left as it is.
    cache : str, path-like, list of them or None, default=None
        Folders and priors files to use first; new phonons go to the first folder among
        them (none: the phonons of crystals found in no file are computed on each call).
    device : str or None, default=None
        Torch device of the potential (None: the CPU).

    Returns
    -------
    estimator
        ``model`` itself.
    """
    prior = getattr(model, "prior_", None)
    if prior is None:
        return model
    stored = [] if prior.cache is None else cache_locations(prior.cache)
    readable = [p for p in stored if str(p).endswith(".npz") and Path(p).is_file()]
    locations = [*([] if cache is None else cache_locations(cache)), *readable]
    prior.set_params(cache=locations or None, device=device or "cpu")
    return model


def cache_locations(cache) -> list:
    """``cache=`` as a list of locations (one folder or file, or a list of them)."""
    return list(cache) if isinstance(cache, (list, tuple)) else [cache]
