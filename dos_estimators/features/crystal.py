"""matminer featurizers as scikit-learn transformers on lists of crystals.

matminer's composition featurizers take a ``Composition``, its structure
featurizers a ``Structure``; :class:`MatminerFeaturizer` takes the Structures
(or ASE Atoms) every estimator here takes, so either kind goes straight into a
``Pipeline`` next to a DOS regressor.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..structures import check_structures

SOURCES = ("structure", "composition")


class MatminerFeaturizer(TransformerMixin, BaseEstimator):
    """Apply a matminer featurizer to crystal structures.

    Parameters
    ----------
    featurizer : matminer.featurizers.base.BaseFeaturizer
        E.g. ``ElementProperty.from_preset("magpie")`` (with
        ``source="composition"``), ``DensityFeatures()`` or
        ``SiteStatsFingerprint.from_preset(...)``. ``fit`` works on a copy; the
        object passed in is left untouched.
    source : {"structure", "composition"}, default="structure"
        What the featurizer takes: the Structure itself or its composition.
    ignore_errors : bool, default=False
        Give a row of NaN where the featurizer fails, instead of raising.
    n_jobs : int, optional
        Processes for ``transform`` (joblib convention: ``None`` one, ``-1`` all cores).
        Each crystal is pickled to the process that featurizes it, which pays for
        matminer's featurizers (a millisecond or more a crystal): on 2 cores, two
        processes made Magpie statistics of 1,521 crystals 1.8 times faster and CrystalNN
        site fingerprints 1.7 times (``docs/results.md``, "Speed and scale"). A failure
        is named by the first failing sample in ``X``'s order, as without ``n_jobs``.
    verbose : bool, default=False
        A progress bar over the crystals (over chunks of them with ``n_jobs``).

    Attributes
    ----------
    featurizer_ : BaseFeaturizer
        The fitted copy.
    n_features_out_ : int

    Examples
    --------
    >>> from matminer.featurizers.structure import DensityFeatures
    >>> from pymatgen.core import Lattice, Structure
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.4)]
    >>> density = MatminerFeaturizer(DensityFeatures(desired_features=["density", "vpa"]))
    >>> density.fit_transform(X).shape
    (2, 2)
    >>> density.get_feature_names_out().tolist()
    ['density', 'vpa']
    """

    def __init__(
        self, featurizer, source="structure", ignore_errors=False, n_jobs=None, verbose=False
    ):
        self.featurizer = featurizer
        self.source = source
        self.ignore_errors = ignore_errors
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_clone__(self):
        # matminer featurizers are scikit-learn estimators themselves, and some
        # (CrystalNNFingerprint) rewrite their arguments in __init__, which
        # sklearn's clone refuses; an unfitted copy of this wrapper needs only
        # a deep copy of the featurizer.
        return type(self)(
            copy.deepcopy(self.featurizer),
            self.source,
            self.ignore_errors,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _entries(self, X) -> list:
        if self.source not in SOURCES:
            raise ValueError(f"source={self.source!r} is not one of {SOURCES}.")
        structures = check_structures(X)
        if self.source == "composition":
            return [structure.composition for structure in structures]
        return structures

    def fit(self, X, y=None):
        """Fit the featurizer (most matminer featurizers learn nothing).

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms
        y : ignored

        Returns
        -------
        self
        """
        entries = self._entries(X)
        # A deep copy, not sklearn's clone: re-running a matminer featurizer's
        # __init__ from its parameters warns for presets with their own data.
        self.featurizer_ = copy.deepcopy(self.featurizer)
        self.featurizer_.fit(entries)
        self.n_features_out_ = len(self.featurizer_.feature_labels())
        return self

    def transform(self, X) -> np.ndarray:
        """Featurize crystals.

        Parameters
        ----------
        X : sequence of pymatgen.core.Structure or ase.Atoms

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out_)

        Raises
        ------
        ValueError
            Naming the sample, where the featurizer fails and ``ignore_errors`` is False.
        """
        check_is_fitted(self, "featurizer_")
        from joblib import effective_n_jobs

        entries = self._entries(X)
        name = type(self.featurizer_).__name__
        n_processes = 1 if self.n_jobs is None else effective_n_jobs(self.n_jobs)
        if n_processes == 1 or len(entries) < 2:
            # One entry at a time, so that the progress bar moves and a failure is named.
            items = [[entry] for entry in entries]
            if self.verbose:
                from tqdm.auto import tqdm

                items = tqdm(items, desc=name, unit="crystal")
            chunks = (_featurize(self.featurizer_, chunk, self.ignore_errors) for chunk in items)
            return self._stack(chunks, 1)
        from joblib import Parallel, delayed

        # A few chunks per process: each chunk carries a pickled copy of the featurizer.
        size = -(-len(entries) // (4 * n_processes))
        chunks = Parallel(n_jobs=n_processes, return_as="generator")(
            delayed(_featurize)(self.featurizer_, entries[start : start + size], self.ignore_errors)
            for start in range(0, len(entries), size)
        )
        if self.verbose:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, total=-(-len(entries) // size), desc=name, unit="chunk")
        return self._stack(chunks, size)

    def _stack(self, chunks, size: int) -> np.ndarray:
        """The rows of ``_featurize``'s chunks, in order; the first failure in X's order raises.

        Chunks come in input order (joblib's ordered generator), each stopped at its own
        first failure, so the first failing chunk read holds the lowest failing sample,
        whichever process failed first in time.
        """
        rows = []
        for number, (chunk_rows, failure) in enumerate(chunks):
            if failure is not None:
                offset, formula, err = failure
                raise ValueError(
                    f"Sample {number * size + offset}: {type(self.featurizer_).__name__} "
                    f"failed on {formula}: {err}"
                ) from err
            rows.extend(
                np.full(self.n_features_out_, np.nan) if row is None else row for row in chunk_rows
            )
        return np.vstack(rows)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The featurizer's feature labels."""
        check_is_fitted(self, "featurizer_")
        return np.asarray(self.featurizer_.feature_labels(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a sequence of crystals, not a 2-D array: sklearn's array checks do not apply.
        tags.input_tags.two_d_array = False
        return tags


def _featurize(featurizer, entries, ignore_errors: bool):
    """Rows of consecutive entries, and the first failure among them.

    One entry at a time: matminer's ``featurize_many`` would start a process pool per call
    and could not say which sample failed.

    Returns
    -------
    rows : list of (numpy.ndarray or None)
        ``None`` for an entry that failed (with ``ignore_errors``).
    failure : (int, str, Exception) or None
        Position in ``entries``, formula and error of the first failure, when
        ``ignore_errors`` is False; the entries after it are not featurized.
    """
    rows = []
    for i, entry in enumerate(entries):
        try:
            rows.append(np.asarray(featurizer.featurize(entry), dtype=float))
        except Exception as err:
            if not ignore_errors:
                return rows, (i, entry.formula, err)
            rows.append(None)
    return rows, None


def unfitted_copy(obj):
    """A copy of ``obj`` to fit: sklearn's ``clone`` for its estimators, else a deep copy.

    An estimator's parameter (a node-feature object, a crystal featurizer) is
    fitted as a copy, so that the object the user passed in stays as it was.
    """
    from sklearn.base import BaseEstimator, clone

    return clone(obj) if isinstance(obj, BaseEstimator) else copy.deepcopy(obj)


def magpie_density_features():
    """Magpie composition statistics and density features of a crystal, as one transformer.

    ``ElementProperty.from_preset("magpie")`` of the composition (132 statistics of 22
    element properties) beside ``DensityFeatures`` (density, volume per atom, packing
    fraction): the tree reference's features, and ``crystal_features="magpie_density"``.

    Returns
    -------
    sklearn.pipeline.FeatureUnion
        Of two :class:`MatminerFeaturizer`, named ``"magpie"`` and ``"density"``.
    """
    # matminer takes seconds to import: only this function needs it.
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import DensityFeatures
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "magpie",
                MatminerFeaturizer(ElementProperty.from_preset("magpie"), source="composition"),
            ),
            ("density", MatminerFeaturizer(DensityFeatures())),
        ]
    )


CRYSTAL_FEATURES = {"magpie_density": magpie_density_features}
"""Names accepted as ``crystal_features``, and the functions that build each transformer."""


def check_crystal_features(spec) -> None:
    """Raise a ``ValueError`` naming ``crystal_features`` if ``spec`` is not a valid option.

    Valid: None, a name in :data:`CRYSTAL_FEATURES`, or an object with ``fit`` and
    ``transform`` taking a list of Structures (a :class:`MatminerFeaturizer`, a
    ``FeatureUnion`` of them, any scikit-learn transformer of Structures).
    """
    if spec is None or (isinstance(spec, str) and spec in CRYSTAL_FEATURES):
        return
    if isinstance(spec, str) or not (
        callable(getattr(spec, "fit", None)) and callable(getattr(spec, "transform", None))
    ):
        raise ValueError(
            f"crystal_features must be None, one of {', '.join(CRYSTAL_FEATURES)}, or a "
            f"transformer of Structures with fit and transform; got {spec!r}."
        )


class CrystalFeatures(BaseEstimator):
    """Crystal-level features for a network's crystal vector, standardised on the training set.

    Parameters
    ----------
    features : str or transformer
        A name in :data:`CRYSTAL_FEATURES`, or a transformer of Structures; cloned,
        then fitted on the training structures.

    Attributes
    ----------
    transformer_ : the fitted transformer
    mean_, scale_ : numpy.ndarray of shape (n_features,)
        Column means (missing values excluded) and standard deviations of the
        training rows. Missing values become the mean, i.e. 0 once standardised.
    """

    def __init__(self, features):
        self.features = features

    def fit(self, structures, y=None):
        check_crystal_features(self.features)
        if isinstance(self.features, str):
            self.transformer_ = CRYSTAL_FEATURES[self.features]()
        else:
            self.transformer_ = unfitted_copy(self.features)
        rows = np.asarray(self.transformer_.fit(structures, y).transform(structures), dtype=float)
        if rows.ndim != 2 or len(rows) != len(structures):
            raise ValueError(
                f"crystal_features gave an array of shape {rows.shape} for {len(structures)} "
                "structures; expected (n_samples, n_features)."
            )
        finite = np.where(np.isfinite(rows), rows, np.nan)
        with np.errstate(all="ignore"):
            mean = np.nanmean(finite, axis=0)
            scale = np.nanstd(finite, axis=0)
        self.mean_ = np.nan_to_num(mean).astype(np.float32)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 1e-8), scale, 1.0).astype(np.float32)
        return self

    def transform(self, structures) -> np.ndarray:
        """Standardised features, ``(n_samples, n_features)`` float32, missing values 0."""
        check_is_fitted(self, "transformer_")
        rows = np.asarray(self.transformer_.transform(structures), dtype=float)
        scaled = (rows - self.mean_) / self.scale_
        return np.where(np.isfinite(scaled), scaled, 0.0).astype(np.float32)


__all__ = [
    "CRYSTAL_FEATURES",
    "CrystalFeatures",
    "MatminerFeaturizer",
    "SOURCES",
    "check_crystal_features",
    "magpie_density_features",
    "unfitted_copy",
]
