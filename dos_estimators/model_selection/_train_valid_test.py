"""The seeded random split into training, validation and test parts (the paper's 80/10/10)."""

from __future__ import annotations

import math

from sklearn.model_selection import train_test_split


def train_valid_test_split(X, y, valid_size=0.1, test_size=0.1, random_state=None):
    """Seeded random split into training, validation and test parts (the paper's 80/10/10).

    Parameters
    ----------
    X : sequence
        Samples (e.g. a list of Structures).
    y : array-like of shape (n_samples, ...)
    valid_size, test_size : float, default=0.1
        Fractions of all samples.
    random_state : int, RandomState or None

    Returns
    -------
    X_train, X_valid, X_test : list or array-like
        The training, validation and test parts of ``X``, each of the kind that
        ``sklearn.model_selection.train_test_split`` returns for ``X`` (a list for a list).
    y_train, y_valid, y_test : array-like of shape (n_part, ...)
        The rows of ``y`` of the same samples, in the same order.

    Raises
    ------
    ValueError
        If the sizes are not in (0, 1) or sum to 1 or more, if some part would be empty, or
        if ``X`` and ``y`` differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> parts = train_valid_test_split(list(range(10)), np.arange(10), random_state=0)
    >>> [len(p) for p in parts]
    [8, 1, 1, 8, 1, 1]
    """
    if not (0 < valid_size < 1 and 0 < test_size < 1 and valid_size + test_size < 1):
        raise ValueError(
            f"valid_size and test_size must be in (0, 1) and sum below 1, got {valid_size} "
            f"and {test_size}."
        )
    n_samples = len(X)
    # Whole counts from the total, so that sizes are fractions of all samples
    # (test rounded up as scikit-learn does, validation to the nearest sample).
    n_test = math.ceil(round(test_size * n_samples, 9))
    n_valid = round(valid_size * n_samples)
    if n_test < 1 or n_valid < 1 or n_samples - n_test - n_valid < 1:
        raise ValueError(
            f"{n_samples} samples cannot be split into training, validation ({valid_size}) "
            f"and test ({test_size}) parts that are all non-empty."
        )
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, random_state=random_state
    )
    X_train, X_valid, y_train, y_valid = train_test_split(
        X_rest, y_rest, test_size=n_valid, random_state=random_state
    )
    return X_train, X_valid, X_test, y_train, y_valid, y_test
