"""Checks of what a regressor is given: DOS targets, energy grids, parameters.

Each regressor checks its constructor parameters once, at the start of ``fit``, with the
functions here; every error names the parameter or the sample.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._validation import is_integer, is_real


def check_targets(y, n_samples: int) -> np.ndarray:
    """Validate a DOS target matrix.

    Parameters
    ----------
    y : array-like of shape (n_samples, n_energies)
    n_samples : int
        Number of structures it must match.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_energies), float64

    Raises
    ------
    ValueError
        If ``y`` is None, rows are ragged, ``y`` is not two-dimensional, holds NaN, infinite
        or negative values or a row that is zero at every energy, or its row count differs
        from ``n_samples``.
    """
    if y is None:
        # The wording scikit-learn's check_requires_y_none looks for.
        raise ValueError(
            "A DOS regressor requires y to be passed, but the target y is None; give the DOS "
            "of each sample as an (n_samples, n_energies) array."
        )
    try:
        Y = np.asarray(y, dtype=float)
    except ValueError as err:
        raise ValueError(
            f"y must be a rectangular (n_samples, n_energies) array; its rows have different "
            f"lengths or are not numeric ({err})."
        ) from None
    if Y.ndim != 2:
        raise ValueError(
            f"y must have shape (n_samples, n_energies), one DOS per row; got shape {Y.shape}."
        )
    if Y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} structures but y has {Y.shape[0]} rows.")
    if Y.shape[1] < 1:
        raise ValueError("y has no energies (zero columns).")
    finite = np.isfinite(Y)
    if not finite.all():
        row = int(np.argwhere(~finite)[0, 0])
        raise ValueError(f"y contains NaN or infinite values (first in row {row}).")
    if (Y < 0).any():
        row, col = (int(i) for i in np.argwhere(Y < 0)[0])
        raise ValueError(
            f"y contains negative densities (first in row {row}, energy index {col}: "
            f"{Y[row, col]:g}); a DOS is non-negative."
        )
    empty = ~Y.any(axis=1)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise ValueError(
            f"y row {row} is zero at every energy: a DOS has states somewhere on its grid (a "
            "failed calculation, or an energy window inside a band gap?); drop that sample or "
            "fix its DOS."
        )
    return Y


def check_energies(energies, n_energies: int) -> np.ndarray:
    """Validate the energy grid of a DOS matrix.

    Parameters
    ----------
    energies : array-like of shape (n_energies,) or None
        Energies (or frequencies) of the DOS columns; None means the column index.
    n_energies : int
        Number of DOS columns it must match.

    Returns
    -------
    numpy.ndarray of shape (n_energies,), float64

    Raises
    ------
    ValueError
        If ``energies`` is not one-dimensional, has another length, holds NaN or
        infinite values, or does not increase strictly.
    """
    if energies is None:
        return np.arange(n_energies, dtype=float)
    grid = np.asarray(energies, dtype=float)
    if grid.ndim != 1 or len(grid) != n_energies:
        raise ValueError(
            f"energies must be a 1-D array of the {n_energies} energies of the DOS columns, "
            f"got shape {grid.shape}."
        )
    if not np.isfinite(grid).all():
        raise ValueError("energies holds NaN or infinite values.")
    if n_energies > 1 and not (np.diff(grid) > 0).all():
        raise ValueError("energies must increase strictly.")
    return grid


class Constraint:
    """What one constructor parameter may be; ``message`` says so, naming the parameter."""

    def allows(self, value) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        """Completes "<name> must be ..."."""
        raise NotImplementedError

    def message(self, name: str, value) -> str:
        return f"{name} must be {self.describe()}, got {value!r}."


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (not a bool) of at least ``minimum``."""

    minimum: int

    def allows(self, value) -> bool:
        return is_integer(value) and value >= self.minimum

    def describe(self) -> str:
        return f"an integer of at least {self.minimum}"


@dataclass(frozen=True)
class Flag(Constraint):
    """True or False (NumPy's bools too)."""

    def allows(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Interval(Constraint):
    """A real number above ``low`` (or at it, if ``closed``) and below ``high`` if given."""

    low: float
    closed: bool
    high: float | None = None

    def allows(self, value) -> bool:
        above = is_real(value) and (value >= self.low if self.closed else value > self.low)
        return above and (self.high is None or value < self.high)

    def describe(self) -> str:
        upper = "∞)" if self.high is None else f"{self.high:g})"
        return f"a number in {'[' if self.closed else '('}{self.low:g}, {upper}"


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of ``options`` (compared by identity or equality)."""

    options: tuple

    def allows(self, value) -> bool:
        return any(value is option or value == option for option in self.options)

    def message(self, name: str, value) -> str:
        return f"{name}={value!r} is not one of {self.options}."


@dataclass(frozen=True)
class Optional(Constraint):
    """None, or what ``inner`` allows."""

    inner: Constraint

    def allows(self, value) -> bool:
        return value is None or self.inner.allows(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"


def parameter_constraints(cls) -> dict:
    """The ``_parameter_constraints`` of ``cls`` and its bases, the bases' first.

    A class declares its own parameters' constraints in a class attribute
    ``_parameter_constraints`` (name → :class:`Constraint`); a subclass adds to, or
    replaces, those of its bases.
    """
    constraints = {}
    for klass in reversed(cls.__mro__):
        constraints.update(klass.__dict__.get("_parameter_constraints", {}))
    return constraints


def check_parameters(estimator) -> None:
    """Raise a ValueError naming the first parameter its class's constraints refuse.

    A constraint on a parameter the estimator does not have is skipped.
    """
    for name, constraint in parameter_constraints(type(estimator)).items():
        if not hasattr(estimator, name):
            continue
        value = getattr(estimator, name)
        if not constraint.allows(value):
            raise ValueError(constraint.message(name, value))


def check_checkpoint_dir(folder, accelerated: bool) -> None:
    """Raise a ValueError if ``checkpoint_dir`` is not None or a path, or used with accelerate."""
    if folder is not None and accelerated:
        raise ValueError(
            "checkpoint_dir cannot be used with device='accelerate': the processes "
            "that accelerate launches would all write the same checkpoints."
        )
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise ValueError(
            f"checkpoint_dir must be None or a folder path (str or os.PathLike), got {folder!r}."
        )


def check_return_std(return_std, n_networks: int) -> None:
    """Raise a ValueError unless ``return_std`` is a bool an ensemble of ``n_networks`` honours."""
    if not isinstance(return_std, (bool, np.bool_)):
        raise ValueError(f"return_std must be True or False, got {return_std!r}.")
    if return_std and n_networks < 2:
        raise ValueError(
            f"return_std=True needs n_ensemble >= 2: the standard deviation is taken across "
            f"the networks of the ensemble, and this model has n_ensemble={n_networks}."
        )
