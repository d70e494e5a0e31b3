"""Tests for dos_estimators.graphs: periodic radius graphs and their collation."""

import numpy as np
import pytest
import torch
from conftest import build as _built
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch, Data

from dos_estimators.datasets import load_phonon_dos
from dos_estimators.features import element_table
from dos_estimators.graphs import (
    CRYSTAL_ATTR_NAMES,
    collate_graphs,
    structure_to_graph,
    structures_to_graphs,
)


def nacl():
    return _built("rock_salt").copy()


def _darmstadtium_cell():
    return Structure(Lattice.cubic(3.0), ["Ds"], [[0, 0, 0]])


def _in_degree(graph):
    return np.bincount(graph.edge_index[1].numpy(), minlength=graph.num_nodes)


@pytest.mark.parametrize("name", ["rock_salt", "diamond", "wurtzite", "isolated"])
@pytest.mark.parametrize("node_features", ["magpie", "onehot"])
def test_graph_shapes(name, node_features):
    structure = _built(name)
    graph = structure_to_graph(structure, cutoff=5.0, node_features=node_features)
    n = len(structure)
    n_features = element_table(node_features).n_features
    e = graph.edge_index.shape[1]
    assert isinstance(graph, Data)
    assert graph.num_nodes == n
    assert graph.x.shape == (n, n_features)
    assert graph.x.dtype == torch.float32
    assert graph.z.shape == (n,)
    assert graph.z.tolist() == list(structure.atomic_numbers)
    assert graph.edge_index.shape == (2, e)
    assert graph.edge_index.dtype == torch.int64
    assert e > 0
    assert graph.edge_vec.shape == (e, 3)
    assert graph.edge_length.shape == (e,)
    assert graph.crystal_attr.shape == (1, 2)
    assert len(CRYSTAL_ATTR_NAMES) == 2
    assert int(graph.edge_index.min()) >= 0
    assert int(graph.edge_index.max()) < n


def test_node_features_are_table_rows():
    structure = _built("wurtzite")
    graph = structure_to_graph(structure, node_features="magpie")
    table = element_table("magpie").values
    np.testing.assert_array_equal(graph.x.numpy(), table[list(structure.atomic_numbers)])


@pytest.mark.parametrize("name", ["rock_salt", "diamond", "wurtzite", "isolated"])
@pytest.mark.parametrize("cutoff", [3.0, 5.0])
def test_edge_lengths_match_vectors_and_cutoff(name, cutoff):
    graph = structure_to_graph(_built(name), cutoff=cutoff)
    norms = torch.linalg.vector_norm(graph.edge_vec, dim=1)
    torch.testing.assert_close(graph.edge_length, norms, rtol=1e-5, atol=1e-5)
    assert float(graph.edge_length.max()) < cutoff
    assert float(graph.edge_length.min()) > 0.5  # no self-pair at zero distance


def test_edge_vec_points_from_centre_to_neighbour():
    # edge_vec = r_j + shift - r_i with j = edge_index[0], i = edge_index[1]: the vector
    # modulo lattice translations equals r_j - r_i.
    structure = _built("wurtzite")
    graph = structure_to_graph(structure, cutoff=4.0)
    j, i = graph.edge_index.numpy()
    diff = structure.cart_coords[j] - structure.cart_coords[i]
    shift = graph.edge_vec.numpy() - diff
    frac_shift = structure.lattice.get_fractional_coords(shift)
    np.testing.assert_allclose(frac_shift, np.round(frac_shift), atol=1e-4)


def test_edges_are_symmetric():
    # Every edge j -> i with vector v has a reverse edge i -> j with vector -v.
    graph = structure_to_graph(_built("wurtzite"), cutoff=4.0)
    _assert_same_edges(
        graph.edge_index.flip(0), -graph.edge_vec.numpy(), graph.edge_index, graph.edge_vec.numpy()
    )


def test_rock_salt_neighbour_counts():
    # Primitive NaCl, a = 5.64 Å. Within 4 Å each atom sees 6 unlike nearest
    # neighbours at a/2 = 2.82 Å and 12 like next-nearest ones at a/sqrt(2) = 3.988 Å
    # (the third shell, a*sqrt(3)/2 = 4.88 Å, is outside): 18 incoming edges per
    # atom, 36 edges for the two atoms.
    structure = nacl()
    graph = structure_to_graph(structure, cutoff=4.0, node_features="onehot")
    assert graph.edge_index.shape == (2, 36)
    assert _in_degree(graph).tolist() == [18, 18]
    lengths = graph.edge_length.numpy()
    nearest = np.isclose(lengths, 5.64 / 2, atol=1e-4)
    second = np.isclose(lengths, 5.64 / np.sqrt(2), atol=1e-4)
    assert nearest.sum() == 12 and second.sum() == 24
    assert (nearest | second).all()
    j, i = graph.edge_index.numpy()
    z = graph.z.numpy()
    # Nearest neighbours are unlike atoms (Na-Cl), second neighbours like atoms.
    assert (z[j[nearest]] != z[i[nearest]]).all()
    assert (z[j[second]] == z[i[second]]).all()


def test_rock_salt_neighbour_counts_at_smaller_cutoff():
    # At 3 Å only the 6 nearest neighbours (2.82 Å) remain.
    graph = structure_to_graph(nacl(), cutoff=3.0)
    assert _in_degree(graph).tolist() == [6, 6]


def test_diamond_has_four_nearest_neighbours():
    # Diamond, a = 3.57 Å: 4 bonds of a*sqrt(3)/4 = 1.546 Å, next shell at a/sqrt(2) = 2.52 Å.
    graph = structure_to_graph(_built("diamond"), cutoff=2.0)
    assert _in_degree(graph).tolist() == [4, 4]
    np.testing.assert_allclose(graph.edge_length.numpy(), 3.57 * np.sqrt(3) / 4, atol=1e-4)


def test_crystal_attr_values():
    structure = nacl()
    graph = structure_to_graph(structure)
    volume_per_atom = 5.64**3 / 4 / 2
    expected = [np.log(volume_per_atom), np.log(structure.density)]
    np.testing.assert_allclose(graph.crystal_attr.numpy()[0], expected, rtol=1e-4)


def test_isolated_atom_has_no_incoming_edge():
    # Si at 0 and 2.38 Å along x in a 14 Å cube, O at the centre (>= 10 Å from both Si).
    structure = _built("isolated")
    graph = structure_to_graph(structure, cutoff=5.0)
    assert graph.num_nodes == 3
    assert _in_degree(graph).tolist() == [1, 1, 0]
    assert 2 not in graph.edge_index[0].tolist()
    np.testing.assert_allclose(graph.edge_length.numpy(), 0.17 * 14.0, atol=1e-4)
    # The isolated atom still gets its node features.
    assert graph.x.shape[0] == 3
    assert torch.isfinite(graph.x).all()


def test_graph_without_any_edge():
    structure = Structure(Lattice.cubic(10.0), ["Cu"], [[0, 0, 0]])
    graph = structure_to_graph(structure, cutoff=5.0)
    assert graph.edge_index.shape == (2, 0)
    assert graph.edge_vec.shape == (0, 3)
    assert graph.edge_length.shape == (0,)
    batch = collate_graphs([graph, structure_to_graph(nacl(), cutoff=3.0)])
    assert batch.edge_index.shape == (2, 12)


def _rotation(axis, angle):
    axis = np.asarray(axis, dtype=float)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _rotated(structure, rotation):
    # Rows of the lattice matrix and of the Cartesian coordinates are vectors: v' = R v.
    return Structure(
        Lattice(structure.lattice.matrix @ rotation.T),
        structure.species,
        structure.cart_coords @ rotation.T,
        coords_are_cartesian=True,
    )


@pytest.mark.parametrize("name", ["rock_salt", "wurtzite"])
def test_graph_invariant_under_rotation(name):
    rotation = _rotation([1.0, 2.0, -0.5], 0.7)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    structure = _built(name)
    turned = _rotated(structure, rotation)
    graph = structure_to_graph(structure, cutoff=5.0)
    graph_turned = structure_to_graph(turned, cutoff=5.0)
    assert graph_turned.edge_index.shape == graph.edge_index.shape
    np.testing.assert_allclose(
        np.sort(graph_turned.edge_length.numpy()), np.sort(graph.edge_length.numpy()), atol=1e-4
    )
    torch.testing.assert_close(graph_turned.x, graph.x)
    torch.testing.assert_close(graph_turned.crystal_attr, graph.crystal_attr)
    assert sorted(_in_degree(graph_turned)) == sorted(_in_degree(graph))
    # Edge vectors rotate with the frame: rotating them back gives the same edge set.
    back = graph_turned.edge_vec.numpy().astype(np.float64) @ rotation  # R^T v for row vectors
    _assert_same_edges(graph_turned.edge_index, back, graph.edge_index, graph.edge_vec.numpy())


def _assert_same_edges(index_a, vec_a, index_b, vec_b, atol=1e-4):
    """Assert two graphs have the same edges (j, i, vector), in any order."""
    a = np.column_stack([index_a.T.numpy(), np.asarray(vec_a, dtype=np.float64)])
    b = np.column_stack([index_b.T.numpy(), np.asarray(vec_b, dtype=np.float64)])
    assert a.shape == b.shape
    # Edges within one graph are distinct, so a match for every row both ways is a bijection.
    close = np.all(np.abs(a[:, None, :] - b[None, :, :]) <= atol, axis=2)
    assert close.any(axis=1).all()
    assert close.any(axis=0).all()
    assert (close.sum(axis=1) == 1).all()


@pytest.mark.parametrize("node_features", ["megnet", "cgcnn"])
def test_element_outside_table_raises_with_index(node_features):
    with pytest.raises(ValueError, match=rf"Sample 4\b.*\bDs\b.*{node_features!r}"):
        structure_to_graph(_darmstadtium_cell(), node_features=node_features, index=4)


def test_element_outside_table_in_list_names_its_index():
    structures = [nacl(), _built("diamond"), _darmstadtium_cell()]
    with pytest.raises(ValueError, match=r"Sample 2\b.*\bDs\b"):
        structures_to_graphs(structures, node_features="megnet")
    # The one-hot table covers Ds.
    graphs = structures_to_graphs(structures, node_features="onehot")
    assert graphs[2].x[0, 109] == 1


@pytest.mark.parametrize("cutoff", [0, 0.0, -1.0])
def test_non_positive_cutoff_raises(cutoff):
    with pytest.raises(ValueError, match="cutoff must be positive"):
        structure_to_graph(nacl(), cutoff=cutoff)


def test_unknown_node_features_raise():
    with pytest.raises(ValueError, match="'nope'"):
        structure_to_graph(nacl(), node_features="nope")


def test_structures_to_graphs_matches_single_builds():
    structures = [nacl(), _built("diamond"), _built("wurtzite"), _built("isolated")]
    graphs = structures_to_graphs(structures, cutoff=4.5, node_features="onehot", verbose=True)
    assert len(graphs) == len(structures)
    for structure, graph in zip(structures, graphs, strict=True):
        single = structure_to_graph(structure, cutoff=4.5, node_features="onehot")
        assert graph.num_nodes == len(structure)
        torch.testing.assert_close(graph.edge_index, single.edge_index)
        torch.testing.assert_close(graph.edge_vec, single.edge_vec)
        torch.testing.assert_close(graph.x, single.x)


def test_collate_graphs_batch():
    graphs = structures_to_graphs([nacl(), _built("wurtzite")], cutoff=4.0)
    batch = collate_graphs(graphs)
    assert isinstance(batch, Batch)
    assert batch.num_graphs == 2
    assert batch.x.shape == (2 + 4, graphs[0].x.shape[1])
    assert batch.batch.tolist() == [0, 0, 1, 1, 1, 1]
    e0 = graphs[0].edge_index.shape[1]
    assert batch.edge_index.shape[1] == e0 + graphs[1].edge_index.shape[1]
    # The second graph's node indices are offset by the first graph's node count.
    torch.testing.assert_close(batch.edge_index[:, e0:], graphs[1].edge_index + 2)
    assert batch.crystal_attr.shape == (2, 2)


def test_collate_graphs_pairs():
    graphs = structures_to_graphs([nacl(), _built("diamond"), _built("wurtzite")], cutoff=4.0)
    targets = [torch.full((7,), float(k)) for k in range(3)]
    out = collate_graphs(list(zip(graphs, targets, strict=True)))
    assert isinstance(out, tuple) and len(out) == 2
    batch, y = out
    assert isinstance(batch, Batch)
    assert batch.num_graphs == 3
    assert y.shape == (3, 7)
    torch.testing.assert_close(y, torch.stack(targets))


@pytest.fixture(scope="module")
def phonon(shared_data_home):
    return load_phonon_dos(data_home=shared_data_home, n_jobs=2)


def test_graphs_for_all_phonon_structures(phonon):
    structures = phonon.structures
    assert len(structures) == 1521
    graphs = structures_to_graphs(structures, cutoff=5.0, node_features="magpie")
    assert len(graphs) == 1521
    assert [g.num_nodes for g in graphs] == [len(s) for s in structures]
    assert sum(g.num_nodes for g in graphs) == sum(len(s) for s in structures)
    for graph in graphs:
        assert graph.edge_vec.shape[0] == graph.edge_index.shape[1] == graph.edge_length.shape[0]
        assert float(graph.edge_length.max()) < 5.0
        assert torch.isfinite(graph.x).all() and torch.isfinite(graph.crystal_attr).all()
    batch = collate_graphs(graphs[:64])
    assert batch.num_graphs == 64
