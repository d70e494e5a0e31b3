"""The physics prior an estimator's ``prior=`` takes: a universal potential's phonon DOS."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

PRIOR_LADDER = (1.0, 0.5, 2.0)
"""Smearings of the prior's channels, as multiples of its ``sigma``; channel 0 is the
prior itself, which the network's read-out adds its correction to, and the last, the
widest, is what ``prior_readout="masked"`` multiplies the correction by."""


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


def prior_channels(prior, structures, energies=None) -> np.ndarray:
    """The prior's DOS at the smearings of :data:`PRIOR_LADDER`.

    Returns
    -------
    numpy.ndarray of shape (n_structures, n_energies, len(PRIOR_LADDER))
        Each channel max-scaled, on ``energies`` (None: the grid the prior was fitted on).
    """
    sigmas = [prior.smearing()[0] * factor for factor in PRIOR_LADDER]
    return prior.transform(structures, sigma=sigmas, energies=energies)
