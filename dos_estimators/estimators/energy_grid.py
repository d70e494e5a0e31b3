"""Predicting on another energy grid than the training one, for ``DOSTransformerRegressor``.

The network reads a grid as *positions*, fractional indices of the training grid
(see :mod:`dos_estimators.nn.energy`), held in each network's ``positions`` buffer.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch


def grid_positions(grid, energies) -> np.ndarray:
    """Energies as fractional indices of the training grid.

    The training grid maps to ``0, 1, …, n − 1`` exactly, even when uneven;
    other energies are interpolated linearly between its points, and
    extrapolated with the spacing of its first or last interval.

    Parameters
    ----------
    grid : numpy.ndarray of shape (n,)
        The training grid, strictly increasing.
    energies : array-like of shape (n_points,)

    Returns
    -------
    numpy.ndarray of shape (n_points,), float32
    """
    index = np.arange(len(grid), dtype=float)
    energies = np.asarray(energies, dtype=float)
    positions = np.interp(energies, grid, index)
    if len(grid) > 1:
        below, above = energies < grid[0], energies > grid[-1]
        positions[below] = (energies[below] - grid[0]) / (grid[1] - grid[0])
        positions[above] = index[-1] + (energies[above] - grid[-1]) / (grid[-1] - grid[-2])
    return positions.astype(np.float32)


@contextmanager
def networks_on_grid(modules, grid, energies, energy_encoding: str):
    """Let every network predict on ``energies`` for the duration of the block.

    Parameters
    ----------
    modules : list of torch.nn.Module
        Networks with a ``positions`` buffer ``[n]`` of the training grid.
    grid : numpy.ndarray of shape (n,)
        The training grid.
    energies : numpy.ndarray of shape (n_points,) or None
        None, or the training grid itself, leaves the networks as they are.
    energy_encoding : str
        The networks' energy encoding; ``"learned"`` cannot predict on another grid.

    Raises
    ------
    ValueError
        If ``energies`` is another grid while the networks were trained on a single
        energy or have a learned energy encoding.
    """
    if energies is None or (len(energies) == len(grid) and np.array_equal(energies, grid)):
        yield
        return
    if len(grid) < 2:
        raise ValueError(
            "the model was trained on a single energy and cannot predict on another grid."
        )
    if energy_encoding == "learned":
        raise ValueError(
            "energy_encoding='learned' has one token per point of the training grid and "
            "cannot predict on another grid; fit with energy_encoding='sinusoidal' or "
            "'continuous' to predict on any grid."
        )
    positions = torch.as_tensor(grid_positions(grid, energies))
    saved = [module.positions for module in modules]
    try:
        for module in modules:
            module.positions = positions.to(saved[0].device)
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.positions = original
