"""Put densities of states on one fixed energy grid, as a scikit-learn transformer.

Turns pymatgen ``Dos``/``CompleteDos`` objects or ``(energies, densities, efermi)`` triples
into an ``(n_samples, n_points)`` target matrix: reference energy, bin averaging, smoothing,
clipping and per-row scaling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, TransformerMixin

from .._validation import is_integer, is_real
from ._samples import check_samples, sample_arrays

__all__ = ["DOSGrid", "valence_band_maximum"]

REFERENCES = ("fermi", "vbm", None)
SCALES = ("max", None)

# Grid ends may overshoot the data's energy range by this much (eV) before it is an error,
# so that a window equal to the data's range survives floating-point rounding.
_RANGE_SLACK = 1e-6


def valence_band_maximum(energies, densities, efermi: float, tol: float = 1e-3) -> float | None:
    """Valence band maximum of a DOS, or ``None`` when it has no gap at the Fermi level.

    A state counts as present where the density exceeds ``tol`` times the spectrum's
    maximum. The DOS has a gap at the Fermi level when the density there (linearly
    interpolated) does not exceed that threshold; the valence band maximum is then the
    highest sampled energy at or below ``efermi`` whose density exceeds it.

    For a broadened DOS (Gaussian smearing of width ``sigma``) the value found lies in the
    broadening tail, a few ``sigma`` above the eigenvalue; a larger ``tol`` moves it
    closer but may skip a weak band edge.

    Parameters
    ----------
    energies : array-like of shape (n_energies,)
        Strictly increasing absolute energies (eV).
    densities : array-like of shape (n_energies,)
        Total density of states (spins summed).
    efermi : float
        Fermi level (eV), on the same scale as ``energies``.
    tol : float, default=1e-3
        Threshold as a fraction of the largest density.

    Returns
    -------
    float or None
        The valence band maximum in eV; ``None`` for a DOS with states at the Fermi
        level (a metal) or with no states at or below it.

    Examples
    --------
    >>> import numpy as np
    >>> energies = np.linspace(-4.0, 4.0, 801)
    >>> densities = np.where(np.abs(energies) > 0.5, 1.0, 0.0)  # a 1 eV gap around 0
    >>> round(valence_band_maximum(energies, densities, efermi=0.0), 6)
    -0.51
    >>> print(valence_band_maximum(energies, np.ones_like(energies), efermi=0.0))
    None
    """
    energies = np.asarray(energies, dtype=float)
    densities = np.asarray(densities, dtype=float)
    threshold = tol * densities.max()
    if densities.max() <= 0 or np.interp(efermi, energies, densities) > threshold:
        return None
    occupied = np.flatnonzero((energies <= efermi) & (densities > threshold))
    if occupied.size == 0:
        return None
    return float(energies[occupied[-1]])


class DOSGrid(TransformerMixin, BaseEstimator):
    """Resample densities of states onto one energy grid, smooth and scale them.

    Each spectrum goes through these steps, in order:

    1. Spins are summed (pymatgen ``Spin.up`` + ``Spin.down``, or the rows of a 2-D array
       or the values of a dict of densities).
    2. Energies are shifted to the reference: the Fermi level, or the valence band
       maximum (see :func:`valence_band_maximum`).
    3. The density is averaged over each grid bin, the interval of width
       ``(emax - emin) / (n_points - 1)`` centred on a grid energy. The average is exact
       for the piecewise-linear interpolant of the data. Averaging rather than
       interpolating keeps the number of states in the window. It also keeps narrow
       peaks when the data is sampled more finely than the grid (Materials Project DOS
       come at about 0.01 eV, the paper's grid is 0.05 eV), whereas point interpolation
       would see only one sample in five. On data much coarser than the grid it
       approaches linear interpolation. The two outermost half-bins are cut at the
       data's range when the window reaches the range's end.
    4. A Savitzky–Golay filter (``scipy.signal.savgol_filter``) smooths the row.
    5. Negative values (from the filter or the input) are set to 0.
    6. The row is divided by its maximum.

    Parameters
    ----------
    emin, emax : float, default=-5.0, 5.0
        First and last grid energy (eV) relative to the reference.
    n_points : int, default=201
        Number of grid energies, evenly spaced from ``emin`` to ``emax`` inclusive.
    reference : {"fermi", "vbm"} or None, default="fermi"
        Zero of the grid. ``"fermi"``: the Fermi level. ``"vbm"``: the valence band
        maximum where the DOS has a gap at the Fermi level, else (metals) the Fermi
        level. ``None``: energies are used as given and ``efermi`` may be ``None``.
    scale : {"max"} or None, default="max"
        ``"max"`` divides each row by its maximum; ``None`` keeps densities in the input's
        units (states/eV per cell for pymatgen objects).
    smoothing : tuple of (int, int) or None, default=(17, 1)
        Savitzky–Golay ``(window_length, polyorder)`` in grid points. The window must be
        odd, larger than the order and at most ``n_points``. ``None`` switches smoothing
        off.
    vbm_tol : float, default=1e-3
        Density threshold of ``reference="vbm"``, as a fraction of each spectrum's
        maximum.

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        Grid energies, set by :meth:`fit`. The same array is available before fitting
        as :attr:`energies`.

    Notes
    -----
    The defaults are the Materials Project convention of the DOSTransformer paper: 201
    points from -5 to 5 eV around the Fermi level (50 meV apart), max scaling,
    Savitzky–Golay window 17 and order 1. ``fit`` learns nothing; ``transform`` works
    without it.

    Examples
    --------
    >>> import numpy as np
    >>> from pymatgen.electronic_structure.core import Spin
    >>> from pymatgen.electronic_structure.dos import Dos
    >>> energies = np.linspace(-10.0, 10.0, 2001)  # absolute energies, eV
    >>> peak = np.exp(-0.5 * ((energies - 3.3) / 0.1) ** 2)  # 1.3 eV above efermi
    >>> dos = Dos(2.0, energies, {Spin.up: peak, Spin.down: peak})
    >>> grid = DOSGrid(smoothing=None)
    >>> y = grid.fit_transform([dos, (energies, peak, 2.0)])
    >>> y.shape
    (2, 201)
    >>> round(float(grid.energies[y[0].argmax()]), 6), float(y[0].max())
    (1.3, 1.0)
    >>> grid.get_feature_names_out()[:3]
    array(['-5', '-4.95', '-4.9'], dtype=object)
    """

    def __init__(
        self,
        emin: float = -5.0,
        emax: float = 5.0,
        n_points: int = 201,
        reference: str | None = "fermi",
        scale: str | None = "max",
        smoothing: tuple[int, int] | None = (17, 1),
        vbm_tol: float = 1e-3,
    ):
        self.emin = emin
        self.emax = emax
        self.n_points = n_points
        self.reference = reference
        self.scale = scale
        self.smoothing = smoothing
        self.vbm_tol = vbm_tol

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> None:
        for name in ("emin", "emax"):
            value = getattr(self, name)
            if not is_real(value) or not np.isfinite(value):
                raise ValueError(f"DOSGrid: {name} must be a finite number, got {value!r}.")
        if not self.emin < self.emax:
            raise ValueError(
                f"DOSGrid: emin must be smaller than emax, got emin={self.emin!r}, "
                f"emax={self.emax!r}."
            )
        if not is_integer(self.n_points) or self.n_points < 2:
            raise ValueError(f"DOSGrid: n_points must be an integer >= 2, got {self.n_points!r}.")
        if self.reference not in REFERENCES:
            raise ValueError(
                f"DOSGrid: reference must be 'fermi', 'vbm' or None, got {self.reference!r}."
            )
        if self.scale not in SCALES:
            raise ValueError(f"DOSGrid: scale must be 'max' or None, got {self.scale!r}.")
        if self.smoothing is not None:
            if (
                not isinstance(self.smoothing, Sequence)
                or isinstance(self.smoothing, str)
                or len(self.smoothing) != 2
                or not all(is_integer(v) for v in self.smoothing)
            ):
                raise ValueError(
                    "DOSGrid: smoothing must be None or a (window_length, polyorder) pair of "
                    f"integers, got {self.smoothing!r}."
                )
            window, order = self.smoothing
            if window < 1 or window % 2 == 0 or not 0 <= order < window:
                raise ValueError(
                    "DOSGrid: smoothing needs an odd window_length and 0 <= polyorder < "
                    f"window_length, got {self.smoothing!r}."
                )
            if window > self.n_points:
                raise ValueError(
                    f"DOSGrid: the smoothing window ({window}) is longer than the grid "
                    f"(n_points={self.n_points})."
                )
        if not is_real(self.vbm_tol) or not 0 <= self.vbm_tol < 1:
            raise ValueError(f"DOSGrid: vbm_tol must be in [0, 1), got {self.vbm_tol!r}.")

    @property
    def energies(self) -> np.ndarray:
        """Grid energies, ``(n_points,)``, in eV relative to the reference."""
        self._check_params()
        return np.linspace(float(self.emin), float(self.emax), int(self.n_points))

    # ------------------------------------------------------------------ sklearn API

    def fit(self, X=None, y=None):
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid.
        """
        self.energies_ = self.energies
        return self

    def transform(self, X) -> np.ndarray:
        """Put each DOS on the grid.

        Parameters
        ----------
        X : sequence of pymatgen Dos, or of (energies, densities, efermi) triples
            ``energies``: ``(n_energies,)`` strictly increasing, in eV. ``densities``:
            ``(n_energies,)``, or ``(n_spins, n_energies)``, or a dict of such arrays per
            spin; spins are summed. ``efermi``: the Fermi level on the scale of
            ``energies`` (may be ``None`` when ``reference=None``). Each sample may use
            its own energies.

        Returns
        -------
        ndarray of shape (n_samples, n_points)

        Raises
        ------
        ValueError
            If a parameter is invalid, or a sample (the message names its index) has
            energies that do not strictly increase, NaN or infinite values, a data range
            that does not cover the grid window, or, with ``scale="max"``, no states in the
            window.
        """
        self._check_params()
        samples = check_samples(X)
        grid = np.empty((len(samples), int(self.n_points)))
        for i, sample in enumerate(samples):
            grid[i] = self._transform_one(sample, where=f"Sample {i}: ")
        return grid

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Grid energies as strings, e.g. ``'-4.95'``.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str objects, shape (n_points,)
        """
        return np.asarray(
            [np.format_float_positional(round(e, 9) + 0.0, trim="-") for e in self.energies],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        return tags

    # ------------------------------------------------------------------ one spectrum

    def _transform_one(self, sample, where: str) -> np.ndarray:
        """Grid one DOS; ``where`` prefixes error messages (e.g. ``"Sample 3: "``)."""
        energies, densities, efermi = sample_arrays(sample, where, needs_efermi=self.reference)
        reference = self._reference_energy(energies, densities, efermi)
        relative = energies - reference
        values = self._bin_average(relative, densities, where)
        if self.smoothing is not None:
            window, order = (int(v) for v in self.smoothing)
            values = savgol_filter(values, window, order)
        values = np.maximum(values, 0.0)
        if self.scale == "max":
            peak = values.max()
            if not peak > 0:
                raise ValueError(
                    f"{where}the DOS is zero everywhere in the grid window "
                    f"[{self.emin:g}, {self.emax:g}] eV; it cannot be scaled by its maximum "
                    "(scale='max'). Use a window that contains states, or scale=None."
                )
            values = values / peak
        return values

    def _reference_energy(self, energies, densities, efermi) -> float:
        if self.reference is None:
            return 0.0
        if self.reference == "vbm":
            vbm = valence_band_maximum(energies, densities, efermi, tol=self.vbm_tol)
            if vbm is not None:
                return vbm
        return float(efermi)

    def _bin_average(self, relative: np.ndarray, densities: np.ndarray, where: str):
        n_points = int(self.n_points)
        emin, emax = float(self.emin), float(self.emax)
        low, high = relative[0], relative[-1]
        if emin < low - _RANGE_SLACK or emax > high + _RANGE_SLACK:
            name = {"fermi": "Fermi level", "vbm": "valence band maximum"}.get(
                self.reference, "zero of the input energies"
            )
            raise ValueError(
                f"{where}the grid window [{emin:g}, {emax:g}] eV is outside the data's energy "
                f"range [{low:.4g}, {high:.4g}] eV (both relative to the {name}). Narrow the "
                "window (emin, emax) or supply a DOS over a wider energy range."
            )
        step = (emax - emin) / (n_points - 1)
        edges = emin + step * (np.arange(n_points + 1) - 0.5)
        edges = np.clip(edges, low, high)
        return np.diff(_cumulative_integral(relative, densities, edges)) / np.diff(edges)


def _cumulative_integral(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Integral from ``x[0]`` to each of ``at`` of the linear interpolant of ``(x, y)``."""
    steps = np.diff(x)
    at_knots = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * steps)])
    j = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
    offset = at - x[j]
    slope = (y[j + 1] - y[j]) / steps[j]
    return at_knots[j] + y[j] * offset + 0.5 * slope * offset**2
