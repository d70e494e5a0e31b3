"""The practical reference: a tree ensemble on matminer features, as a plain sklearn Pipeline."""

from __future__ import annotations

from sklearn.ensemble import ExtraTreesRegressor
from sklearn.pipeline import Pipeline

from ..features.crystal import magpie_density_features


def tree_reference(n_estimators=300, random_state=None, n_jobs=None) -> Pipeline:
    """ExtraTrees on Magpie composition statistics and density features.

    A materials scientist's first try, and the row every deep model is judged
    against: ``ElementProperty.from_preset("magpie")`` of the composition (132
    statistics of 22 element properties) and ``DensityFeatures`` (density,
    volume per atom, packing fraction) feed a multi-output
    ``ExtraTreesRegressor``. On the phonon set it fits in seconds.

    Parameters
    ----------
    n_estimators : int, default=300
    random_state : int, RandomState or None, default=None
    n_jobs : int, optional
        Processes for the trees.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"features"`` (a ``FeatureUnion`` of two
        :class:`~dos_estimators.features.MatminerFeaturizer`) and ``"trees"``.
        Takes a list of Structures (or ASE Atoms) and a DOS matrix.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> import numpy as np
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6)]
    >>> y = np.random.default_rng(0).random((4, 51))
    >>> tree_reference(n_estimators=10, random_state=0).fit(X, y).predict(X).shape
    (4, 51)
    """
    features = magpie_density_features()
    trees = ExtraTreesRegressor(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs)
    return Pipeline([("features", features), ("trees", trees)])
