"""Models trained by the package's authors and shipped inside it, ready to predict.

``load("phonon")`` gives a fitted :class:`~dos_estimators.DOSTransformerRegressor`
ensemble trained on all 1,521 crystals of the DFPT phonon DOS set; it predicts the
max-scaled phonon DOS on 51 frequencies from 0 to 1000 cm⁻¹, with the ensemble's
spread (``predict(X, return_std=True)``). Its card — data, recipe, the command that
rebuilt it, held-out accuracy of the same recipe — is ``card("phonon")`` and
``docs/pretrained.md``.

``load("phonon-hybrid")`` is the same kind of ensemble fitted with SevenNet-l3i5's
phonon DOS as its prior (``DOSTransformerRegressor(prior=...)``, ``docs/phonons.md``):
the package's most accurate phonon model. Each new crystal costs a phonopy calculation
with the potential (seconds to minutes on a CPU; the ``phonons`` extra); ``cache=``
keeps those phonons, or holds a priors file of ``benchmarks/priors.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PRETRAINED = {"phonon": "phonon.safetensors", "phonon-hybrid": "phonon-hybrid.safetensors"}
"""Names accepted by :func:`load`, and the file each is shipped in."""

ZERO_SHOT = {"sigma": 20.0, "scale": 1.0}
"""Smearing (cm⁻¹) and frequency scale of :func:`zero_shot`: what
``PotentialPhononRegressor.fit`` chose for SevenNet-l3i5 on the phonon set (on 64
training crystals of each of seeds 0-2, and on all 1,521 crystals of its priors file;
``docs/phonons.md``)."""


def zero_shot(potential: str = "7net-l3i5", **params):
    """A universal potential's zero-shot phonon DOS on the phonon set's grid, ready to predict.

    Parameters
    ----------
    potential : str, default="7net-l3i5"
        A name of :data:`dos_estimators.phonons.POTENTIALS`.
    **params
        Parameters of :class:`~dos_estimators.PotentialPhononRegressor` (``cache``,
        ``device``, ...).

    Returns
    -------
    PotentialPhononRegressor
        Fitted with :data:`ZERO_SHOT`'s smearing and scale; its default grid is 51
        frequencies from 0 to 1000 cm⁻¹, and ``predict(X, energies=...)`` takes any.
    """
    import numpy as np

    from ..estimators import PotentialPhononRegressor

    return PotentialPhononRegressor.preset(
        potential, energies=np.linspace(0.0, 1000.0, 51), **ZERO_SHOT, **params
    )


def available() -> list[str]:
    """Names of the pretrained models this installation holds."""
    return [name for name in PRETRAINED if package_file(name).is_file()]


def package_file(name: str) -> Path:
    """Where the model file of ``name`` lies in this installation (present or not)."""
    return Path(str(resources.files(__name__).joinpath(PRETRAINED[name])))


def path(name: str = "phonon") -> Path:
    """The model file of the pretrained model ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`PRETRAINED`.
    FileNotFoundError
        If this installation lacks the file (a source tree without it).
    """
    if name not in PRETRAINED:
        raise ValueError(
            f"no pretrained model called {name!r}; the pretrained models are "
            f"{', '.join(PRETRAINED)}."
        )
    file = package_file(name)
    if not file.is_file():
        raise FileNotFoundError(
            f"the pretrained model {name!r} is missing from this installation ({file}); "
            "reinstall dos_estimators, or rebuild it with benchmarks/pretrained.py."
        )
    return file


def load(name: str = "phonon", *, device=None, cache=None):
    """Load the pretrained model ``name``.

    Parameters
    ----------
    name : {"phonon", "phonon-hybrid"}, default="phonon"
    device : str, optional
        Torch device of the networks, and of the potential of ``"phonon-hybrid"``'s
        prior (default: the CPU).
    cache : str, path-like, list of them or None, default=None
        For ``"phonon-hybrid"``: a folder keeping the potential's phonons of the
        crystals it predicts (a second prediction of the same crystal then takes
        milliseconds), or priors files written by ``benchmarks/priors.py``, in the order
        they are looked in (see :class:`~dos_estimators.phonons.PotentialPhonons`).
        None: every crystal's phonons are computed on each call. Ignored by ``"phonon"``.

    Returns
    -------
    DOSTransformerRegressor
        Fitted; ``predict``, ``predict(X, return_std=True)``, ``score`` and
        ``fine_tune`` work.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from dos_estimators import pretrained
    >>> model = pretrained.load("phonon")
    >>> nacl = Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4,
    ...     [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
    ...      [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])
    >>> mean, std = model.predict([nacl], return_std=True)
    >>> mean.shape, std.shape, float(model.energies_[-1])
    ((1, 51), (1, 51), 1000.0)
    """
    from ..estimators.prior import rehome_prior
    from ..model_files import load_model

    return rehome_prior(load_model(path(name), device=device), cache, device)


def card(name: str = "phonon") -> dict:
    """What the pretrained model ``name`` is: data, recipe, command, measured accuracy.

    Returns
    -------
    dict
        The notes saved with the model file.
    """
    from ..model_files import read_notes

    return read_notes(path(name))


__all__ = [
    "PRETRAINED",
    "ZERO_SHOT",
    "available",
    "card",
    "load",
    "package_file",
    "path",
    "zero_shot",
]
