"""Periodic radius graphs of crystals as ``torch_geometric`` data.

One :class:`torch_geometric.data.Data` per structure: node features from an
element table, neighbour pairs within a cutoff (pymatgen's neighbour list), edge
vectors and lengths, and a few cheap crystal-level descriptors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pymatgen.core import Structure
from torch_geometric.data import Batch, Data

from .features.elements import atomic_masses, element_table

_AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660

CRYSTAL_ATTR_NAMES = ("log_volume_per_atom", "log_density")
"""Crystal-level descriptors stored in ``Data.crystal_attr`` (in this order)."""

_PROGRESS_THRESHOLD = 2000


def structure_to_graph(
    structure: Structure,
    cutoff: float | None = 5.0,
    node_features: str | None = "magpie",
    index: int | None = None,
    self_loops: bool = False,
) -> Data:
    """Build the periodic radius graph of one crystal.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        An ordered crystal.
    cutoff : float or None, default=5.0
        Neighbour cutoff radius in Å; ``None`` skips the neighbour search and
        gives a graph without edges (for models that look at atoms only).
    node_features : str or None, default="magpie"
        Name of the element table (see :func:`dos_estimators.features.element_table`);
        ``None`` leaves ``x`` without columns, for features set afterwards (an
        embedding from :mod:`dos_estimators.features.atoms`).
    index : int, optional
        Sample index for error messages.
    self_loops : bool, default=False
        Add one zero-length edge from every atom to itself (the released
        DOSTransformer code's graphs, built with ASE's ``self_interaction=True``).

    Returns
    -------
    torch_geometric.data.Data
        With ``x`` ``[num_nodes, F]`` node features, ``z`` ``[num_nodes]``
        atomic numbers, ``edge_index`` ``[2, num_edges]`` (row 0 the neighbour
        *j*, row 1 the centre *i*, so messages flow *j* → *i*), ``edge_vec``
        ``[num_edges, 3]`` (r_j + image shift − r_i, Å), ``edge_length``
        ``[num_edges]`` and ``crystal_attr`` ``[1, 2]`` (log of the volume per atom in
        Å³, log of the density in g/cm³). An atom with no neighbour within ``cutoff`` simply
        has no incoming edge.

    Raises
    ------
    ValueError
        If an element is outside the node-feature table, or ``cutoff`` is not positive.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
    ...                                  [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()
    >>> graph = structure_to_graph(nacl, cutoff=4.0, node_features="onehot")
    >>> graph.x.shape, graph.edge_index.shape
    (torch.Size([2, 118]), torch.Size([2, 36]))
    """
    numbers = np.asarray(structure.atomic_numbers, dtype=np.int64)
    if node_features is None:
        x = np.zeros((len(numbers), 0), dtype=np.float32)
    else:
        table = element_table(node_features)
        table.check_numbers(numbers, index=index)
        x = table.values[numbers]
    if cutoff is None:
        centres = neighbours = np.zeros(0, dtype=np.int64)
        edge_vec, lengths = np.zeros((0, 3)), np.zeros(0)
    elif cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}.")
    else:
        centres, neighbours, images, lengths = structure.get_neighbor_list(float(cutoff))
        shifts = images @ structure.lattice.matrix
        edge_vec = structure.cart_coords[neighbours] - structure.cart_coords[centres] + shifts
    if self_loops:
        atoms = np.arange(len(numbers))
        centres, neighbours = np.concatenate([centres, atoms]), np.concatenate([neighbours, atoms])
        edge_vec = np.concatenate([edge_vec, np.zeros((len(atoms), 3))])
        lengths = np.concatenate([lengths, np.zeros(len(atoms))])
    # Volume and density from the lattice directly: pymatgen's unit-aware
    # ``Structure.density`` costs more than the neighbour search itself.
    volume = abs(np.linalg.det(structure.lattice.matrix))
    density = atomic_masses()[numbers].sum() / volume * _AMU_PER_A3_TO_G_PER_CM3
    crystal_attr = [[np.log(volume / len(numbers)), np.log(density)]]
    return Data(
        x=torch.from_numpy(x),
        z=torch.from_numpy(numbers),
        edge_index=torch.from_numpy(np.stack([neighbours, centres]).astype(np.int64)),
        edge_vec=torch.from_numpy(edge_vec.astype(np.float32)),
        edge_length=torch.from_numpy(np.asarray(lengths, dtype=np.float32)),
        crystal_attr=torch.tensor(crystal_attr, dtype=torch.float32),
        num_nodes=len(numbers),
    )


def structures_to_graphs(
    structures: Sequence[Structure],
    cutoff: float | None = 5.0,
    node_features: str | None = "magpie",
    verbose: bool = False,
    self_loops: bool = False,
) -> list[Data]:
    """Build graphs for many crystals.

    Parameters
    ----------
    structures : sequence of pymatgen.core.Structure
    cutoff : float or None, default=5.0
    node_features : str or None, default="magpie"
    verbose : bool, default=False
        Show a progress bar when there are many structures.
    self_loops : bool, default=False
        See :func:`structure_to_graph`.

    Returns
    -------
    list of torch_geometric.data.Data
        One graph per structure, see :func:`structure_to_graph`.
    """
    items = enumerate(structures)
    if verbose and len(structures) >= _PROGRESS_THRESHOLD:
        from tqdm.auto import tqdm

        items = tqdm(items, total=len(structures), desc="graphs", unit="structure")
    graphs = []
    for i, s in items:
        graphs.append(
            structure_to_graph(
                s, cutoff=cutoff, node_features=node_features, index=i, self_loops=self_loops
            )
        )
    return graphs


def collate_graphs(samples: Sequence) -> Batch | tuple[Batch, torch.Tensor]:
    """Collate graphs, or ``(graph, target)`` pairs, into a PyG ``Batch``.

    Parameters
    ----------
    samples : sequence of Data or of (Data, torch.Tensor)

    Returns
    -------
    Batch, or (Batch, torch.Tensor of shape [batch_size, n_energies])
    """
    if isinstance(samples[0], Data):
        return Batch.from_data_list(list(samples))
    graphs, targets = zip(*samples, strict=True)
    return Batch.from_data_list(list(graphs)), torch.stack(targets)
