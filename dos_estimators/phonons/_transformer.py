"""``PotentialPhonons``: a universal potential's phonon DOS as a transformer of Structures."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import is_integer, is_real
from ..structures import check_structures
from ._cache import PhononCache, modes_key
from ._modes import PhononModes, phonon_dos
from ._potentials import force_field


def require_energies(energies, who: str) -> None:
    """A ValueError naming ``who`` when the grid of a phonon DOS is missing."""
    if energies is None:
        raise ValueError(
            f"{who} needs energies=: the frequencies of the DOS columns in cm^-1, on which "
            "the potential's DOS is computed (for the phonon set, load_phonon_dos().energies)."
        )


SIGMAS = (10.0, 15.0, 20.0, 25.0, 30.0)
"""Gaussian smearings in cm⁻¹ that ``sigma="fit"`` chooses from."""

SCALES = (0.95, 1.0, 1.05, 1.1)
"""Frequency scale factors that ``scale="fit"`` chooses from (universal potentials run
soft)."""

FIT = "fit"
"""The value of ``sigma`` or ``scale`` that ``fit`` chooses on the training crystals."""


def smearing_scores(modes, targets, energies, sigmas=SIGMAS, scales=SCALES) -> dict:
    """MSE of each (sigma, scale) against training DOS rows, at their typical height.

    Parameters
    ----------
    modes : list of PhononModes
        One per row of ``targets``.
    targets : numpy.ndarray of shape (n_samples, n_energies)
    energies : numpy.ndarray of shape (n_energies,)
        The grid of ``targets`` in cm⁻¹.
    sigmas, scales : sequences of float

    Returns
    -------
    dict
        ``{(sigma, scale): mse}``; the max-scaled DOS is multiplied by the median maximum
        of the rows (their typical height) before it is compared.
    """
    amplitude = float(np.median(targets.max(axis=1)))
    scores = {}
    for sigma in sigmas:
        for scale in scales:
            predicted = amplitude * np.array([m.on_grid(energies, sigma, scale) for m in modes])
            scores[(float(sigma), float(scale))] = float(np.mean((predicted - targets) ** 2))
    return scores


def modes_on_grid(modes, energies, sigmas, scale=1.0) -> np.ndarray:
    """Crystals' modes on a grid, one max-scaled channel per smearing.

    Parameters
    ----------
    modes : sequence of PhononModes
    energies : array-like of shape (n_energies,)
        Frequencies in cm⁻¹.
    sigmas : sequence of float
        Gaussian smearings in cm⁻¹.
    scale : float or array-like of shape (n_modes,), default=1.0
        Frequency scale: one for all, or one per crystal.

    Returns
    -------
    numpy.ndarray of shape (n_modes, n_energies, n_sigmas)

    Raises
    ------
    ValueError
        If ``scale`` is not positive, or neither one number nor one per crystal.
    """
    grid = np.asarray(energies, dtype=float)
    sigmas = np.asarray(sigmas, dtype=float)
    scales = np.asarray(scale, dtype=float)
    if scales.shape not in ((), (len(modes),)) or not np.all(scales > 0):
        raise ValueError(
            f"scale must be a positive number or one per crystal ({len(modes)}), got "
            f"shape {scales.shape} with minimum {scales.min(initial=np.inf):g}."
        )
    scales = np.broadcast_to(scales, len(modes))
    out = np.array(
        [[m.on_grid(grid, s, f) for s in sigmas] for m, f in zip(modes, scales, strict=True)]
    ).reshape(len(modes), len(sigmas), len(grid))
    return out.transpose(0, 2, 1)


def _modes_of(structure, potential, settings, device, batch_size) -> PhononModes:
    """One crystal's modes (what a joblib worker runs)."""
    return phonon_dos(structure, potential, device=device, batch_size=batch_size, **settings)


class PotentialPhonons(TransformerMixin, BaseEstimator):
    """Each crystal's phonon DOS from a pretrained universal potential, on a fixed grid.

    No weights are learned: ``fit`` records the grid and, where ``sigma`` or ``scale`` is
    ``"fit"``, chooses it (from :data:`SIGMAS`, :data:`SCALES`) by the lowest MSE on the
    training crystals. ``transform`` computes the modes of each crystal with
    :func:`~dos_estimators.phonons.phonon_dos` (or finds them in ``cache``) and smears
    them onto the grid. It is what an estimator's ``prior=`` takes.

    Parameters
    ----------
    potential : str or ASE calculator, default="7net-l3i5"
        A name of :data:`~dos_estimators.phonons.POTENTIALS`, or an ASE calculator.
    cache : str, path-like, list of them or None, default=None
        Where modes are kept between calls and processes (see
        :class:`~dos_estimators.phonons.PhononCache`): a folder (one small file per
        crystal, keyed by the structure's content, the potential and the settings
        below), a priors file written by :func:`~dos_estimators.phonons.write_priors`
        (such as ``benchmarks/data/phonon_priors_7net-l3i5.npz``, the phonon set's
        crystals computed so far;
        read only; a missing file is an error), or a list looked up in order, new modes
        going to the first folder. Caching needs a potential name or an ASE calculator
        whose ``parameters`` tell its settings apart.
        None computes the modes at every call.
    sigma : float or "fit", default=15.0
        Gaussian smearing in cm⁻¹, or ``"fit"``: chosen in ``fit(X, y, energies=)``.
    scale : float or "fit", default=1.0
        Factor applied to every frequency, or ``"fit"``: chosen with ``sigma``.
    supercell_length, max_supercell_atoms, displacement, mesh
        See :func:`~dos_estimators.phonons.phonon_dos`.
    device : str, default="cpu"
    batch_size : int, optional
        Supercells per model call (see :func:`~dos_estimators.phonons.phonon_dos`).
    n_jobs : int, optional
        Crystals computed in parallel by joblib (processes by default). Inside
        ``with joblib.parallel_backend("dask"):`` they run on the workers of a Dask
        cluster, which is how many machines share a large set (user guide, "Phonons").
        Each process should use one thread: set ``OMP_NUM_THREADS=1``.
    verbose : bool, default=False
        A progress bar over crystals that are not cached.

    Attributes
    ----------
    energies_ : numpy.ndarray of shape (n_energies,)
        The grid in cm⁻¹ seen in ``fit``.
    sigma_, scale_ : float
        The smearing and scale ``transform`` uses: the parameters, or what ``fit`` chose.
    grid_scores_ : dict of str to numpy.ndarray of shape (n_tried,)
        With a ``"fit"`` value: ``"sigma"``, ``"scale"`` and ``"mse"``, the training MSE
        of each (sigma, scale) tried (as ``cv_results_`` in scikit-learn: a model file
        keeps it).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> import numpy as np
    >>> prior = PotentialPhonons(EMT(), supercell_length=7.0)
    >>> prior.fit([bulk("Cu")], energies=np.linspace(0, 400, 41)).transform([bulk("Cu")]).shape
    (1, 41)
    """

    def __init__(
        self,
        potential="7net-l3i5",
        *,
        cache=None,
        sigma=15.0,
        scale=1.0,
        supercell_length=9.0,
        max_supercell_atoms=160,
        displacement=0.01,
        mesh=20.0,
        device="cpu",
        batch_size=None,
        n_jobs=None,
        verbose=False,
    ):
        self.potential = potential
        self.cache = cache
        self.sigma = sigma
        self.scale = scale
        self.supercell_length = supercell_length
        self.max_supercell_atoms = max_supercell_atoms
        self.displacement = displacement
        self.mesh = mesh
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    @property
    def settings(self) -> dict:
        """The settings that change the modes (and so the cache key)."""
        return {
            "supercell_length": self.supercell_length,
            "max_supercell_atoms": self.max_supercell_atoms,
            "displacement": self.displacement,
            "mesh": self.mesh,
        }

    def _check_params(self) -> None:
        force_field(self.potential)  # an unknown name lists the known ones
        for name in ("sigma", "scale", "supercell_length", "displacement", "mesh"):
            value = getattr(self, name)
            if name in ("sigma", "scale") and isinstance(value, str) and value == FIT:
                continue
            if not (is_real(value) and 0 < value < float("inf")):
                also = ' or "fit"' if name in ("sigma", "scale") else ""
                raise ValueError(f"{name} must be a positive number{also}, got {value!r}.")
        if not (is_integer(self.max_supercell_atoms) and self.max_supercell_atoms >= 1):
            raise ValueError(
                "max_supercell_atoms must be an integer of at least 1, "
                f"got {self.max_supercell_atoms!r}."
            )

    def fit(self, X=None, y=None, energies=None):
        """Record the grid that ``transform`` puts each DOS on; choose a ``"fit"`` smearing.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms, optional
            Training crystals; needed only where ``sigma`` or ``scale`` is ``"fit"`` (their
            modes are then computed, or read from the cache).
        y : array-like of shape (n_samples, n_energies), optional
            Their DOS on ``energies``; needed with ``X``.
        energies : array-like of shape (n_energies,)
            Frequencies in cm⁻¹, strictly increasing.

        Raises
        ------
        ValueError
            If ``energies`` is missing or not strictly increasing, ``"fit"`` is asked for
            without ``X`` and a matching ``y``, or a parameter is invalid.
        """
        self._check_params()
        require_energies(energies, "PotentialPhonons.fit")
        energies = np.asarray(energies, dtype=float)
        if energies.ndim != 1 or len(energies) < 1 or np.any(np.diff(energies) <= 0):
            raise ValueError("energies must be a strictly increasing 1-D grid in cm^-1.")
        self.energies_ = energies
        chosen = {"sigma": self.sigma, "scale": self.scale}
        free = [name for name, value in chosen.items() if isinstance(value, str)]
        if free:
            chosen.update(self._choose(X, y, energies, free))
        self.sigma_, self.scale_ = float(chosen["sigma"]), float(chosen["scale"])
        return self

    def _choose(self, X, y, energies, free) -> dict:
        """The ``"fit"`` values among sigma and scale, by the lowest MSE on (X, y)."""
        wanted = " and ".join(f'{name}="fit"' for name in free)
        if X is None or y is None:
            raise ValueError(f"PotentialPhonons with {wanted} needs fit(X, y, energies=).")
        targets = np.asarray(y, dtype=float)
        structures = check_structures(X)
        if targets.shape != (len(structures), len(energies)):
            raise ValueError(
                f"PotentialPhonons.fit: y has shape {targets.shape}, expected "
                f"({len(structures)}, {len(energies)}) for {len(structures)} crystals on "
                f"{len(energies)} energies."
            )
        sigmas = SIGMAS if "sigma" in free else (self.sigma,)
        scales = SCALES if "scale" in free else (self.scale,)
        modes = self.modes(structures)
        scores = smearing_scores(modes, targets, energies, sigmas, scales)
        self.grid_scores_ = {
            "sigma": np.array([sigma for sigma, _ in scores]),
            "scale": np.array([scale for _, scale in scores]),
            "mse": np.array(list(scores.values())),
        }
        sigma, scale = min(scores, key=scores.get)
        return {"sigma": sigma, "scale": scale}

    def smearing(self) -> tuple[float, float]:
        """The (sigma, scale) that ``transform`` uses."""
        check_is_fitted(self, "energies_")
        # getattr: fitted before sigma and scale could be "fit", the parameters were used.
        return getattr(self, "sigma_", self.sigma), getattr(self, "scale_", self.scale)

    def modes(self, X) -> list[PhononModes]:
        """Each crystal's :class:`~dos_estimators.phonons.PhononModes`, from the cache or
        computed (and then cached)."""
        self._check_params()
        structures = check_structures(X)
        forces = force_field(self.potential)
        if self.cache is not None and not getattr(forces, "cacheable", True):
            raise ValueError(
                f"cache= cannot tell this {forces.name} apart from others of its class: it "
                "records no ASE parameters, so its phonons would be mixed with theirs. Use a "
                "potential name of dos_estimators.phonons.POTENTIALS, or cache=None."
            )
        keys = [modes_key(s, forces.key, self.settings) for s in structures]
        store = None if self.cache is None else PhononCache(self.cache)
        found = {}
        for key in dict.fromkeys(keys):
            modes = store.get(key) if store is not None else None
            if modes is not None:
                found[key] = modes
        todo = {key: s for key, s in zip(keys, structures, strict=True) if key not in found}
        for key, modes in zip(todo, self._compute(list(todo.values())), strict=True):
            if store is not None:
                store.put(key, modes)
            found[key] = modes
        return [found[key] for key in keys]

    def _compute(self, structures):
        """The modes of ``structures``, yielded in order as they are computed."""
        from joblib import Parallel, delayed

        if self.verbose and structures:
            from tqdm.auto import tqdm

            structures = tqdm(structures, desc="phonons", unit="crystal")
        run = delayed(_modes_of)
        jobs = (
            run(s, self.potential, self.settings, self.device, self.batch_size) for s in structures
        )
        if self.n_jobs in (None, 1):
            yield from (function(*args, **kwargs) for function, args, kwargs in jobs)
            return
        yield from Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)

    def transform(self, X, sigma=None, energies=None, scale=None) -> np.ndarray:
        """The prior DOS of each crystal on the fitted grid.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        sigma : float or sequence of float, optional
            Smearing in cm⁻¹ instead of ``sigma_``; several give one channel each.
        energies : array-like of shape (n_points,), optional
            Another grid in cm⁻¹ than the fitted one.
        scale : float or array-like of shape (n_samples,), optional
            Frequency scale instead of ``scale_``: one for all, or one per crystal.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_energies), or (n_samples, n_energies, n_sigmas)
            when ``sigma`` is a sequence. Each DOS is max-scaled (all zeros for a crystal
            with no real mode on the grid).
        """
        fitted_sigma, fitted_scale = self.smearing()
        grid = self.energies_ if energies is None else energies
        sigmas = np.atleast_1d(fitted_sigma if sigma is None else sigma)
        scale = fitted_scale if scale is None else scale
        out = modes_on_grid(self.modes(X), grid, sigmas, scale)
        return out if np.ndim(fitted_sigma if sigma is None else sigma) else out[..., 0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags
