"""``PotentialPhononRegressor``: the zero-shot phonon DOS of a universal potential."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import is_integer
from ..metrics import r2_pooled
from ..phonons import PotentialPhonons, require_energies
from ..structures import check_structures
from .base import check_energies, check_targets

# The parameters it passes on to PotentialPhonons unchanged.
_SHARED = (
    "potential",
    "cache",
    "supercell_length",
    "max_supercell_atoms",
    "displacement",
    "mesh",
    "device",
    "batch_size",
    "n_jobs",
    "verbose",
)


class PotentialPhononRegressor(RegressorMixin, BaseEstimator):
    """Phonon DOS from a pretrained universal potential and phonopy, with no training.

    ``predict`` computes each crystal's modes by finite displacements (see
    :func:`~dos_estimators.phonons.phonon_dos`) and smears them onto the grid. ``fit``
    learns no weights: it chooses the smearing (from
    :data:`~dos_estimators.phonons.SIGMAS`) and one frequency scale factor (from
    :data:`~dos_estimators.phonons.SCALES`) with the lowest MSE on up to
    ``n_fit_samples`` training crystals, and the DOS amplitude (the median maximum of
    the training rows).

    Parameters
    ----------
    potential : str or ASE calculator, default="7net-l3i5"
        A name of :data:`~dos_estimators.phonons.POTENTIALS` or an ASE calculator.
    cache : str, path-like, list of them or None, default=None
        Where computed modes are kept and found (a folder, a priors file, or both; see
        :class:`~dos_estimators.phonons.PotentialPhonons`).
    n_fit_samples : int or None, default=32
        Training crystals (drawn with ``random_state``) that choose the smearing and
        scale; None uses all. Each costs one phonon calculation unless cached.
    supercell_length, max_supercell_atoms, displacement, mesh, device, batch_size, n_jobs
        See :class:`~dos_estimators.phonons.PotentialPhonons`.
    random_state : int, RandomState or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    sigma_ : float
        The chosen smearing in cm⁻¹.
    scale_ : float
        The chosen frequency scale.
    amplitude_ : float
        The DOS maximum predictions are scaled to (1 for max-scaled targets).
    energies_ : numpy.ndarray of shape (n_energies,)
    grid_scores_ : dict of str to numpy.ndarray of shape (n_tried,)
        ``"sigma"``, ``"scale"`` and ``"mse"``: each (sigma, scale) tried and its MSE on
        the crystals that chose them (empty arrays for :meth:`preset`).
    phonons_ : PotentialPhonons
        Fitted with the chosen smearing and scale; its ``modes`` gives each crystal's
        modes, imaginary share and cost.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> import numpy as np
    >>> X = [bulk("Cu", a=a) for a in (3.55, 3.6, 3.65)]
    >>> grid = np.linspace(0, 400, 21)
    >>> y = PotentialPhonons(EMT(), supercell_length=7.0).fit(energies=grid).transform(X)
    >>> model = PotentialPhononRegressor(EMT(), supercell_length=7.0).fit(X, y, energies=grid)
    >>> model.sigma_, model.scale_
    (15.0, 1.0)
    """

    def __init__(
        self,
        potential="7net-l3i5",
        *,
        cache=None,
        n_fit_samples=32,
        supercell_length=9.0,
        max_supercell_atoms=160,
        displacement=0.01,
        mesh=20.0,
        device="cpu",
        batch_size=None,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.potential = potential
        self.cache = cache
        self.n_fit_samples = n_fit_samples
        self.supercell_length = supercell_length
        self.max_supercell_atoms = max_supercell_atoms
        self.displacement = displacement
        self.mesh = mesh
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _phonons(self, sigma=15.0, scale=1.0) -> PotentialPhonons:
        shared = {name: getattr(self, name) for name in _SHARED}
        return PotentialPhonons(sigma=sigma, scale=scale, **shared)

    def fit(self, X, y, energies=None):
        """Choose the smearing and frequency scale on training crystals.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y : array-like of shape (n_samples, n_energies)
        energies : array-like of shape (n_energies,)
            The frequencies of the columns of ``y`` in cm⁻¹ (for the phonon set,
            ``load_phonon_dos().energies``).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``energies`` is missing or invalid, ``y`` does not match ``X``, or a
            parameter is invalid (an unknown potential's message lists the known ones).
        """
        structures = check_structures(X)
        Y = check_targets(y, len(structures))
        require_energies(energies, "PotentialPhononRegressor.fit")
        self.energies_ = check_energies(energies, Y.shape[1])
        n = self.n_fit_samples
        if n is not None and not (is_integer(n) and n >= 1):
            raise ValueError(f"n_fit_samples must be None or an integer >= 1, got {n!r}.")
        chosen = np.arange(len(structures))
        if n is not None and n < len(structures):
            chosen = np.sort(check_random_state(self.random_state).choice(chosen, n, False))
        # Predictions are max-scaled DOS times the training rows' typical maximum.
        self.amplitude_ = float(np.median(Y.max(axis=1)))
        self.phonons_ = self._phonons(sigma="fit", scale="fit").fit(
            [structures[i] for i in chosen], Y[chosen], energies=self.energies_
        )
        self.grid_scores_ = self.phonons_.grid_scores_
        self.sigma_, self.scale_ = self.phonons_.smearing()
        return self

    @classmethod
    def preset(cls, potential, *, sigma, scale, energies, amplitude=1.0, **params):
        """A fitted regressor with a given smearing and scale, without training data.

        Parameters
        ----------
        potential : str or ASE calculator
        sigma, scale : float
            Smearing in cm⁻¹ and frequency scale (``sigma_``, ``scale_``).
        energies : array-like of shape (n_energies,)
            Default grid in cm⁻¹ (``predict(X, energies=...)`` takes any other).
        amplitude : float, default=1.0
            The DOS maximum of the predictions.
        **params
            Other constructor parameters (``cache``, ``device``, ...).

        Returns
        -------
        PotentialPhononRegressor
            Fitted: ``predict`` works at once.
        """
        model = cls(potential, **params)
        model.energies_ = check_energies(energies, len(np.atleast_1d(energies)))
        model.sigma_, model.scale_, model.amplitude_ = float(sigma), float(scale), amplitude
        model.grid_scores_ = {key: np.empty(0) for key in ("sigma", "scale", "mse")}
        model.phonons_ = model._phonons(model.sigma_, model.scale_).fit(energies=model.energies_)
        return model

    def predict(self, X, energies=None) -> np.ndarray:
        """The phonon DOS of each crystal.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        energies : array-like of shape (n_points,), optional
            Another grid in cm⁻¹ (the modes are exact: any grid works).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_energies_) or (n_samples, n_points)
        """
        check_is_fitted(self, "phonons_")
        if energies is not None:
            energies = check_energies(energies, len(np.atleast_1d(energies)))
        return self.amplitude_ * self.phonons_.transform(X, energies=energies)

    def score(self, X, y, sample_weight=None) -> float:
        """Pooled R² of the predicted DOS (see :func:`dos_estimators.metrics.r2_pooled`)."""
        return r2_pooled(np.asarray(y, dtype=float), self.predict(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.multi_output = True
        return tags
