"""What the splitters share: their two base classes, parameter checks and error messages."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from .._validation import is_integer


def _check_n_splits(n_splits) -> None:
    """Refuse a number of splits that is not an integer of at least 1.

    Parameters
    ----------
    n_splits : object
        The splitter's ``n_splits`` parameter.

    Raises
    ------
    ValueError
        If ``n_splits`` is not an integer (booleans excluded) of at least 1.
    """
    if not (is_integer(n_splits) and n_splits >= 1):
        raise ValueError(f"n_splits must be an integer of at least 1, got {n_splits!r}.")


def _as_tuple(value, name: str) -> tuple:
    """A parameter that may be given as one item or as a sequence of items.

    Parameters
    ----------
    value : str, int or iterable
        The parameter's value.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    tuple
        ``(value,)`` for a string or an integer, else ``tuple(value)``.

    Raises
    ------
    ValueError
        If ``value`` is neither a single item nor iterable.
    """
    if isinstance(value, (str, int, np.integer)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence, got {value!r}.") from None


def _found(labels) -> str:
    """``'cubic (3), hexagonal (1)'``: the labels present and how often, for error messages.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        A crystal system or a species count per crystal.

    Returns
    -------
    str
        Each distinct label, sorted, with its count in parentheses.
    """
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return ", ".join(f"{v} ({c})" for v, c in zip(values.tolist(), counts.tolist(), strict=True))


class _RepeatedSplit(BaseCrossValidator):
    """A splitter that draws ``n_splits`` random folds."""

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for the scikit-learn signature.

        Returns
        -------
        int
        """
        return self.n_splits


class _SingleSplit(BaseCrossValidator):
    """A splitter with one fold, its parts set by what the crystals are."""

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: always 1.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for the scikit-learn signature.

        Returns
        -------
        int
        """
        return 1
