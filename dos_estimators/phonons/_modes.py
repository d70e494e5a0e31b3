"""Phonon modes of a crystal from finite displacements (phonopy) and a force field.

:func:`phonon_dos` builds the supercell, lets phonopy's symmetry choose the
displacements, evaluates their forces through the force field in batches, and
samples the mode frequencies on a q-point mesh; :class:`PhononModes` puts them on any
energy grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..structures import as_structure
from ._potentials import force_field, unsupported_elements

THZ_TO_CM = 33.35640951981521
"""One terahertz in cm⁻¹ (phonopy's frequencies are in THz)."""

IMAGINARY_TOLERANCE = 5.0
"""Modes below −5 cm⁻¹ count as imaginary (unstable).

Phonopy reports imaginary frequencies as negative numbers; the acoustic modes near Γ
come out a fraction of a cm⁻¹ either side of zero from numerical noise alone.
"""


@dataclass
class PhononModes:
    """Mode frequencies of one crystal and what computing them took.

    Attributes
    ----------
    frequencies : numpy.ndarray of shape (n_modes,)
        Mode frequencies in cm⁻¹ over the q-point mesh (imaginary modes negative).
    weights : numpy.ndarray of shape (n_modes,)
        Each mode's share of the DOS, summing to 1.
    gamma : numpy.ndarray of shape (3 n_atoms,)
        The frequencies at Γ, in cm⁻¹, ascending.
    supercell : tuple of int
        The diagonal supercell matrix used (multiples of the three lattice vectors).
    n_displacements : int
        Displaced supercells whose forces were evaluated.
    seconds : float
        Time taken to compute them (0 when read from a file that does not say).
    potential : str
        The potential's cache key.
    """

    frequencies: np.ndarray
    weights: np.ndarray
    gamma: np.ndarray = field(default_factory=lambda: np.zeros(0))
    supercell: tuple = (1, 1, 1)
    n_displacements: int = 0
    seconds: float = 0.0
    potential: str = ""

    @property
    def imaginary_fraction(self) -> float:
        """Weight of the modes below −:data:`IMAGINARY_TOLERANCE` (0 to 1)."""
        return float(self.weights[self.frequencies < -IMAGINARY_TOLERANCE].sum())

    def fraction_above(self, frequency: float, scale: float = 1.0) -> float:
        """Weight of the modes above ``frequency`` cm⁻¹ once scaled by ``scale`` (0 to 1)."""
        return float(self.weights[self.frequencies * scale > frequency].sum())

    def on_grid(self, energies, sigma: float = 15.0, scale: float = 1.0) -> np.ndarray:
        """The DOS on a grid: a Gaussian per real mode, scaled to a maximum of 1.

        Parameters
        ----------
        energies : array-like of shape (n_energies,)
            Frequencies in cm⁻¹.
        sigma : float, default=15.0
            Gaussian standard deviation in cm⁻¹.
        scale : float, default=1.0
            Factor applied to every frequency first.

        Returns
        -------
        numpy.ndarray of shape (n_energies,)
            Max-scaled; imaginary (negative) modes are dropped; all zeros when no real
            mode falls near the grid.
        """
        energies = np.asarray(energies, dtype=np.float64)
        real = self.frequencies >= 0
        centres = self.frequencies[real] * scale
        weights = self.weights[real]
        density = np.zeros(len(energies))
        # Chunks bound the memory of the (energies × modes) table for fine grids.
        for start in range(0, len(centres), 4096):
            c, w = centres[start : start + 4096], weights[start : start + 4096]
            density += np.exp(-0.5 * ((energies[:, None] - c[None, :]) / sigma) ** 2) @ w
        peak = density.max(initial=0.0)
        return density / peak if peak > 0 else density

    def binned(self, width: float = 5.0, top: float = 1500.0) -> np.ndarray:
        """Mode weights summed in bins of ``width`` cm⁻¹ from 0 to ``top`` (real modes)."""
        edges = np.arange(0.0, top + width / 2, width)
        real = (self.frequencies >= 0) & (self.frequencies < edges[-1])
        histogram, _ = np.histogram(self.frequencies[real], bins=edges, weights=self.weights[real])
        return histogram


def supercell_for(structure, length: float, max_atoms: int) -> tuple[int, int, int]:
    """The diagonal supercell at least ``length`` Å along each lattice vector, within
    ``max_atoms``.

    Where the lengths would need more atoms, the multiple of the vector whose supercell
    side is longest is lowered first, until the supercell fits.

    Raises
    ------
    ValueError
        If the cell alone has more than ``max_atoms`` atoms.
    """
    n_atoms = len(structure)
    if n_atoms > max_atoms:
        raise ValueError(
            f"{structure.composition.reduced_formula}: its cell has {n_atoms} atoms, more than "
            f"max_supercell_atoms={max_atoms}; raise max_supercell_atoms to compute its phonons."
        )
    abc = np.asarray(structure.lattice.abc, dtype=float)
    multiples = np.maximum(1, np.ceil(length / abc - 1e-9)).astype(int)
    while n_atoms * multiples.prod() > max_atoms:
        sides = np.where(multiples > 1, multiples * abc, -np.inf)
        multiples[int(np.argmax(sides))] -= 1
    return tuple(int(m) for m in multiples)


def phonon_dos(
    structure,
    potential="7net-l3i5",
    *,
    supercell_length: float = 9.0,
    max_supercell_atoms: int = 160,
    displacement: float = 0.01,
    mesh: float = 20.0,
    device: str = "cpu",
    batch_size: int | None = None,
) -> PhononModes:
    """Harmonic phonons of a crystal from a pretrained universal potential, no training.

    The structure is taken as given (not relaxed: the phonon set's structures are
    DFPT-relaxed already). Phonopy displaces atoms of a diagonal supercell by
    ``displacement`` Å, adding the opposite displacement where symmetry does not
    provide it (``is_plusminus="auto"``); the potential gives their forces, many
    supercells per model call; the force constants give the frequencies on a q-point
    mesh.

    Parameters
    ----------
    structure : pymatgen.core.Structure or ase.Atoms
    potential : str or ASE calculator, default="7net-l3i5"
        A name of :data:`~dos_estimators.phonons.POTENTIALS` (weights inside the
        ``sevenn`` or ``chgnet`` wheel), or any ASE calculator (one call per supercell).
    supercell_length : float, default=9.0
        Smallest supercell length along each lattice vector, in Å.
    max_supercell_atoms : int, default=160
        Largest supercell; shorter sides are taken where the lengths would need more.
    displacement : float, default=0.01
        Atomic displacement in Å.
    mesh : float, default=20.0
        Phonopy's q-point mesh by length (a mesh of about ``mesh`` / |a| points along
        each reciprocal vector).
    device : str, default="cpu"
        Torch device of the named potentials.
    batch_size : int, optional
        Supercells per model call: 1 on the CPU (measured no faster batched there), 16
        on other devices.

    Returns
    -------
    PhononModes

    Raises
    ------
    ValueError
        If the potential is unknown (the message lists the known ones), the structure
        holds an element the potential was not trained on (the message names both), or
        its cell has more than ``max_supercell_atoms`` atoms.

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> modes = phonon_dos(bulk("Cu", cubic=False), EMT(), supercell_length=7.0)
    >>> modes.gamma.shape, bool(abs(modes.gamma[:3]).max() < 1.0)
    ((3,), True)
    """
    start = time.perf_counter()
    structure = as_structure(structure)
    if batch_size is None:
        batch_size = 1 if str(device).startswith("cpu") else 16
    forces = force_field(potential, device=device, batch_size=batch_size)
    missing = unsupported_elements([e.symbol for e in structure.composition], forces.elements)
    if missing:
        raise ValueError(
            f"{structure.composition.reduced_formula}: potential {forces.name!r} was not "
            f"trained on {', '.join(missing)}."
        )
    multiples = supercell_for(structure, supercell_length, max_supercell_atoms)
    phonon = _phonopy(structure, multiples)
    phonon.generate_displacements(distance=displacement, is_plusminus="auto")
    supercells = [_to_ase(cell) for cell in phonon.supercells_with_displacements]
    phonon.forces = np.asarray(forces.forces(supercells))
    phonon.produce_force_constants()
    phonon.run_mesh(mesh, with_eigenvectors=False)
    frequencies = np.asarray(phonon.mesh.frequencies) * THZ_TO_CM  # (n_q, 3 n_atoms)
    q_weights = np.asarray(phonon.mesh.weights, dtype=float)
    weights = np.repeat(q_weights / q_weights.sum() / frequencies.shape[1], frequencies.shape[1])
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.sort(np.asarray(phonon.qpoints.frequencies[0]) * THZ_TO_CM)
    return PhononModes(
        frequencies=frequencies.ravel(),
        weights=weights,
        gamma=gamma,
        supercell=multiples,
        n_displacements=len(supercells),
        seconds=time.perf_counter() - start,
        potential=forces.key,
    )


def _phonopy(structure, multiples):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(
        symbols=[site.specie.symbol for site in structure],
        cell=structure.lattice.matrix,
        scaled_positions=structure.frac_coords,
    )
    return Phonopy(cell, supercell_matrix=np.diag(multiples), primitive_matrix="P")


def _to_ase(cell):
    from ase import Atoms

    return Atoms(
        symbols=cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True
    )
