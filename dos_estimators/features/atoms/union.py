"""The node-feature protocol, its element-table and union implementations, and the cache.

A node-feature object follows a small protocol, the one scikit-learn transformers
follow but with one array per structure:

- ``fit(structures, y=None)`` learns what it needs from the training crystals
  (and their DOS, for a supervised embedding) and returns ``self``;
- ``transform(structures)`` returns a list of ``(n_atoms, F)`` float arrays, one
  per structure, row ``i`` the features of site ``i``.

Estimators accept such an object (or a list of them and table names, whose
features are concatenated) as ``node_features=``, clone it and fit the clone on
the structures passed to their own ``fit``, never on the ones they predict for.

An object may also train inside the estimator's network: if it has a truthy
``fine_tune`` attribute and the methods ``encoder()`` (after ``fit``: a torch
module, see :func:`dos_estimators.nn.with_encoded_atoms`) and
``encoder_inputs(structures)`` (one object per structure for that module), its
columns are computed by that module in every forward pass instead of by
``transform`` (the pretrained potentials with ``fine_tune > 0``).
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from ..._validation import is_real
from ...structures import structure_key
from ..crystal import unfitted_copy
from ..elements import NODE_FEATURES, element_table

# name -> (module, class) of the package's embeddings reachable by a string.
EMBEDDINGS = {
    "chgnet": (".pretrained", "CHGNetAtomEmbedding"),
    "sevennet": (".pretrained", "SevenNetAtomEmbedding"),
    "vae": (".vae", "VAEAtomEmbedding"),
    "contrastive": (".contrastive", "ContrastiveAtomEmbedding"),
}
"""Names of the package's embeddings accepted as ``node_features`` besides the tables."""


def embedding_class(name: str) -> type:
    """The embedding class called ``name`` (one of :data:`EMBEDDINGS`)."""
    module, attribute = EMBEDDINGS[name]
    return getattr(importlib.import_module(module, __package__), attribute)


class FeatureCache:
    """Per-structure arrays kept per process, keyed by content, least recently used out.

    Cross-validation folds and Optuna trials fit on overlapping crystals; what an
    expensive, fixed extractor (a pretrained potential, a neighbour histogram)
    computed for a crystal once is then looked up, not recomputed.

    Parameters
    ----------
    max_bytes : int, default=1 GiB
        Arrays are dropped, oldest use first, beyond this total size.
    """

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get_many(
        self,
        namespace: tuple,
        structures: Sequence,
        compute: Callable[[list], list[np.ndarray]],
    ) -> list[np.ndarray]:
        """The arrays of ``structures``, computing only those not cached.

        Parameters
        ----------
        namespace : tuple
            What the arrays depend on besides the structure (extractor and settings).
        structures : sequence of pymatgen.core.Structure
        compute : callable
            Called once with the list of missing structures (each distinct one once);
            returns their arrays in order.

        Returns
        -------
        list of numpy.ndarray
            Read-only arrays, one per structure.
        """
        keys = [(namespace, structure_key(s)) for s in structures]
        missing = {}
        for key, structure in zip(keys, structures, strict=True):
            if key in self._items:
                self._items.move_to_end(key)
            else:
                missing.setdefault(key, structure)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        found = {key: self._items[key] for key in keys if key in self._items}
        if missing:
            arrays = compute(list(missing.values()))
            for key, array in zip(missing, arrays, strict=True):
                array = np.array(array, dtype=np.float32)
                array.setflags(write=False)
                found[key] = array
                self._put(key, array)
        return [found[key] for key in keys]

    def _put(self, key, array: np.ndarray) -> None:
        self._items[key] = array
        self._bytes += array.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes

    def clear(self) -> None:
        """Forget every array."""
        self._items.clear()
        self._bytes = 0
        self.hits = self.misses = 0


CACHE = FeatureCache()
"""The process's cache of per-structure features."""


class ElementEmbedding(BaseEstimator):
    """An element table as a node-feature object: each site gets its element's row.

    Parameters
    ----------
    table : str, default="magpie"
        One of :data:`dos_estimators.features.NODE_FEATURES`.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure(Lattice.cubic(2.8), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> ElementEmbedding("magpie").fit([nacl]).transform([nacl])[0].shape
    (2, 22)
    """

    def __init__(self, table="magpie"):
        self.table = table

    def fit(self, structures, y=None):
        element_table(self.table)
        return self

    def transform(self, structures) -> list[np.ndarray]:
        table = element_table(self.table)
        out = []
        for i, structure in enumerate(structures):
            numbers = np.asarray(structure.atomic_numbers, dtype=np.int64)
            table.check_numbers(numbers, index=i)
            out.append(table.values[numbers])
        return out


def _is_embedding(value) -> bool:
    return callable(getattr(value, "fit", None)) and callable(getattr(value, "transform", None))


def _fine_tunes(part) -> bool:
    """Whether a part computes its columns inside the network (see the module notes)."""
    value = getattr(part, "fine_tune", 0)
    return is_real(value) and value > 0 and callable(getattr(part, "encoder", None))


def _parts(spec) -> list:
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


def check_node_features(spec) -> None:
    """Raise a ``ValueError`` naming ``node_features`` if ``spec`` is not a valid option.

    Valid: a table name (:data:`~dos_estimators.features.NODE_FEATURES`), an
    embedding name (:data:`EMBEDDINGS`), an object with ``fit`` and
    ``transform``, or a non-empty list or tuple of these.
    """
    parts = _parts(spec)
    if not parts:
        raise ValueError("node_features must not be an empty list.")
    names = (*NODE_FEATURES, *EMBEDDINGS)
    for part in parts:
        if isinstance(part, str):
            if part not in names:
                raise ValueError(f"node_features={part!r} is not one of {', '.join(names)}.")
        elif isinstance(part, (list, tuple)) or not _is_embedding(part):
            raise ValueError(
                f"node_features must be a name ({', '.join(names)}), an object with fit "
                f"and transform methods, or a list of these; got {part!r}."
            )


def is_table(spec) -> bool:
    """Whether ``spec`` is a plain element-table name (built into the graphs directly)."""
    return isinstance(spec, str) and spec in NODE_FEATURES


class NodeFeatureUnion(BaseEstimator):
    """Several node-feature options, their columns concatenated per site.

    Parameters
    ----------
    parts : list
        Table names, embedding names or node-feature objects; names become
        :class:`ElementEmbedding` or the named embedding, objects are cloned.
    random_state : int, RandomState or None, default=None
        Given to the parts that take one and were named by a string.

    Attributes
    ----------
    parts_ : list
        The fitted node-feature objects.
    n_features_out_ : int
        Columns per site that :meth:`transform` gives.
    n_encoder_features_ : int
        Columns per site that :meth:`encoder` computes inside the network (0 if no part
        is fine-tuned).

    Raises
    ------
    ValueError
        From ``fit``, if more than one part is fine-tuned.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure(Lattice.cubic(2.8), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> union = NodeFeatureUnion(["magpie", "onehot"]).fit([nacl])
    >>> union.n_features_out_
    140
    """

    def __init__(self, parts, random_state=None):
        self.parts = parts
        self.random_state = random_state

    def _resolve(self, part):
        if isinstance(part, str) and part in EMBEDDINGS:
            embedding = embedding_class(part)()
            if "random_state" in embedding.get_params():
                embedding.set_params(random_state=self.random_state)
            return embedding
        if isinstance(part, str):
            return ElementEmbedding(part)
        return unfitted_copy(part)

    def fit(self, structures, y=None):
        check_node_features(self.parts)
        parts = [self._resolve(part) for part in _parts(self.parts)]
        tuned = [part for part in parts if _fine_tunes(part)]
        if len(tuned) > 1:
            raise ValueError(
                "node_features may fine-tune one potential at a time; "
                f"{', '.join(type(part).__name__ for part in tuned)} all have fine_tune > 0."
            )
        self.parts_ = [part.fit(structures, y) for part in parts]
        tuned = self._tuned()
        first = self.transform(structures[:1]) if len(structures) else [np.zeros((0, 0))]
        self.n_features_out_ = int(first[0].shape[1])
        self.n_encoder_features_ = (
            int(tuned.transform(structures[:1])[0].shape[1])
            if tuned is not None and len(structures)
            else 0
        )
        return self

    def _tuned(self):
        return next((part for part in self.parts_ if _fine_tunes(part)), None)

    def encoder(self):
        """A new trainable module computing the fine-tuned part's columns, or None."""
        part = self._tuned()
        return None if part is None else part.encoder()

    def encoder_inputs(self, structures) -> list | None:
        """What :meth:`encoder` reads for each structure, or None without a fine-tuned part."""
        part = self._tuned()
        return None if part is None else part.encoder_inputs(structures)

    def transform(self, structures) -> list[np.ndarray]:
        """The columns of every part not fine-tuned, concatenated: ``(n_atoms, F)`` arrays."""
        parts = [part for part in self.parts_ if not _fine_tunes(part)]
        per_part = [part.transform(structures) for part in parts]
        out = []
        for i, structure in enumerate(structures):
            arrays = [np.asarray(features[i], dtype=np.float32) for features in per_part]
            for part, array in zip(parts, arrays, strict=True):
                if array.ndim != 2 or array.shape[0] != len(structure):
                    raise ValueError(
                        f"node features of {type(part).__name__} for sample {i} have shape "
                        f"{array.shape}; expected ({len(structure)}, n_features), one row "
                        "per site."
                    )
                if not np.isfinite(array).all():
                    raise ValueError(
                        f"node features of {type(part).__name__} for sample {i} are not all finite."
                    )
            # Only a fine-tuned part: its columns all come from the network.
            out.append(
                np.concatenate(arrays, axis=1)
                if arrays
                else np.zeros((len(structure), 0), dtype=np.float32)
            )
        return out
