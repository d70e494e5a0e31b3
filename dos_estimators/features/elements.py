"""Element tables that turn an atomic number into a node feature vector.

Tables are read from matminer (Magpie, Matscholar, MEGNet, CGCNN) or built from
pymatgen element data (one-hot, mass-weighted one-hot), and cached per process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from pymatgen.core.periodic_table import Element

MAX_Z = 118
NODE_FEATURES = (
    "onehot",
    "mass_onehot",
    "mass_onehot_amu",
    "magpie",
    "matscholar",
    "megnet",
    "cgcnn",
)
"""Names accepted by :func:`element_table`."""


@dataclass(frozen=True)
class ElementTable:
    """Node features indexed by atomic number.

    Attributes
    ----------
    name : str
        Table name, one of :data:`NODE_FEATURES`.
    values : numpy.ndarray of shape (MAX_Z + 1, n_features)
        Row ``Z`` holds the features of element ``Z``; row 0 is unused.
    supported : numpy.ndarray of shape (MAX_Z + 1,), dtype bool
        Whether the source covers element ``Z``.
    """

    name: str
    values: np.ndarray
    supported: np.ndarray

    @property
    def n_features(self) -> int:
        return self.values.shape[1]

    def check_numbers(self, atomic_numbers, index: int | None = None) -> None:
        """Raise ``ValueError`` if an element is outside the table.

        The message names the elements, the table, and the other tables that have them.

        Parameters
        ----------
        atomic_numbers : array-like of int
        index : int, optional
            Sample index for the error message.
        """
        numbers = np.asarray(atomic_numbers)
        bad = numbers[(numbers < 1) | (numbers > MAX_Z)]
        if bad.size == 0:
            bad = numbers[~self.supported[numbers]]
        if bad.size:
            where = "" if index is None else f"Sample {index}: "
            symbols = ", ".join(sorted({_symbol(z) for z in bad}))
            raise ValueError(
                f"{where}element(s) {symbols} not in the {self.name!r} node-feature table; "
                f"choose another `node_features`{self._tables_with(np.unique(bad))}."
            )

    def _tables_with(self, numbers: np.ndarray) -> str:
        """``" (onehot, ... have it)"``: the other tables that cover ``numbers``, for messages."""
        if ((numbers < 1) | (numbers > MAX_Z)).any():
            return ""
        others = [
            name
            for name in NODE_FEATURES
            if name != self.name and element_table(name).supported[numbers].all()
        ]
        if not others:
            return ""
        verb = "has" if len(others) == 1 else "have"
        return f" ({', '.join(others)} {verb} {'it' if len(numbers) == 1 else 'them'})"


def _symbol(z: int) -> str:
    try:
        return Element.from_Z(int(z)).symbol
    except ValueError:
        return f"Z={int(z)}"


def _standardise(values: np.ndarray, supported: np.ndarray) -> np.ndarray:
    """Fill missing entries with column means and scale columns to zero mean, unit variance."""
    rows = values[supported]
    mean = np.nanmean(rows, axis=0)
    filled = np.where(np.isnan(values), mean, values)
    std = filled[supported].std(axis=0)
    std[std == 0] = 1.0
    out = (filled - mean) / std
    out[~supported] = 0.0
    return out


def _onehot() -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros((MAX_Z + 1, MAX_Z))
    values[np.arange(1, MAX_Z + 1), np.arange(MAX_Z)] = 1.0
    supported = np.ones(MAX_Z + 1, dtype=bool)
    supported[0] = False
    return values, supported


@cache
def atomic_masses() -> np.ndarray:
    """Atomic masses in amu indexed by atomic number, shape ``(MAX_Z + 1,)`` (entry 0 is 0)."""
    masses = np.zeros(MAX_Z + 1)
    masses[1:] = [float(Element.from_Z(z).atomic_mass) for z in range(1, MAX_Z + 1)]
    masses.setflags(write=False)
    return masses


def _mass_onehot() -> tuple[np.ndarray, np.ndarray]:
    # As in the e3nn phonon tutorial: the one-hot entry carries the atomic mass,
    # divided here by the heaviest mass so inputs stay of order one.
    values, supported = _onehot()
    masses = atomic_masses()
    values *= (masses / masses.max())[:, None]
    return values, supported


def _mass_onehot_amu() -> tuple[np.ndarray, np.ndarray]:
    # The released DOSTransformer and e3nn phonon code: the atomic mass in amu, unscaled.
    values, supported = _onehot()
    values *= atomic_masses()[:, None]
    return values, supported


def _from_matminer_source(source, property_names) -> tuple[np.ndarray, np.ndarray]:
    values = np.full((MAX_Z + 1, len(property_names)), np.nan)
    for z in range(1, MAX_Z + 1):
        element = Element.from_Z(z)
        for j, name in enumerate(property_names):
            try:
                value = source.get_elemental_property(element, name)
            except (KeyError, ValueError):
                continue
            values[z, j] = np.nan if value is None else float(np.asarray(value).ravel()[0])
    supported = ~np.all(np.isnan(values), axis=1)
    supported[0] = False
    return _standardise(values, supported), supported


def _magpie() -> tuple[np.ndarray, np.ndarray]:
    from matminer.featurizers.composition import ElementProperty
    from matminer.utils.data import MagpieData

    names = ElementProperty.from_preset("magpie").features
    return _from_matminer_source(MagpieData(impute_nan=False), names)


def _matscholar() -> tuple[np.ndarray, np.ndarray]:
    from matminer.utils.data import MatscholarElementData

    source = MatscholarElementData(impute_nan=False)
    return _from_matminer_source(source, source.prop_names)


def _megnet() -> tuple[np.ndarray, np.ndarray]:
    from matminer.utils.data import MEGNetElementData

    source = MEGNetElementData(impute_nan=False)
    values = np.full((MAX_Z + 1, len(source.prop_names)), np.nan)
    for z in range(1, MAX_Z + 1):
        row = source.all_element_data.get(Element.from_Z(z).symbol)
        if row is not None:
            values[z] = [row[name] for name in source.prop_names]
    supported = ~np.all(np.isnan(values), axis=1)
    supported[0] = False
    return _standardise(values, supported), supported


def _cgcnn() -> tuple[np.ndarray, np.ndarray]:
    # matminer ships the CGCNN atom-feature table (92 binary features for Z=1..100)
    # as a data file without a reader class; read it from the installed package.
    path = resources.files("matminer.utils") / "data_files" / "cgcnn_atom_feature.json"
    table = json.loads(path.read_text())
    width = len(next(iter(table.values())))
    values = np.zeros((MAX_Z + 1, width))
    supported = np.zeros(MAX_Z + 1, dtype=bool)
    for z, row in table.items():
        values[int(z)] = row
        supported[int(z)] = True
    return values, supported


_BUILDERS = {
    "onehot": _onehot,
    "mass_onehot": _mass_onehot,
    "mass_onehot_amu": _mass_onehot_amu,
    "magpie": _magpie,
    "matscholar": _matscholar,
    "megnet": _megnet,
    "cgcnn": _cgcnn,
}


@cache
def element_table(name: str = "magpie") -> ElementTable:
    """Return the node-feature table called ``name``.

    Parameters
    ----------
    name : {"onehot", "mass_onehot", "mass_onehot_amu", "magpie", "matscholar", "megnet", \
"cgcnn"}
        ``"onehot"``: 118 indicator columns. ``"mass_onehot"``: the indicator
        times the atomic mass over the heaviest mass. ``"mass_onehot_amu"``: the
        indicator times the atomic mass in amu (the e3nn phonon tutorial's and
        the released DOSTransformer code's node features). ``"magpie"``: the 22
        elemental properties of matminer's Magpie preset. ``"matscholar"``,
        ``"megnet"``: learned embeddings (200 and 16 columns) shipped with
        matminer. ``"cgcnn"``: the 92 CGCNN atom features. Continuous tables are
        standardised per column, missing values replaced by the column mean.

    Returns
    -------
    ElementTable

    Raises
    ------
    ValueError
        If ``name`` is not one of the above.

    Examples
    --------
    >>> table = element_table("magpie")
    >>> table.values.shape
    (119, 22)
    """
    if name not in _BUILDERS:
        raise ValueError(f"node_features={name!r} is not one of {', '.join(NODE_FEATURES)}.")
    values, supported = _BUILDERS[name]()
    values = values.astype(np.float32)
    values.setflags(write=False)
    supported.setflags(write=False)
    return ElementTable(name=name, values=values, supported=supported)


__all__ = [
    "ElementTable",
    "MAX_Z",
    "NODE_FEATURES",
    "atomic_masses",
    "element_table",
]
