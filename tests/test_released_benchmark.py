"""Tests of ``benchmarks/released.py``: its torch_scatter stand-in, its report, and, given a
checkout of the released code (``$DOS_ESTIMATORS_RELEASED_REPO``), the released model it
builds and trains.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_geometric.utils
from conftest import benchmark_script, diamond, rock_salt, wurtzite

from dos_estimators.features import element_table
from dos_estimators.graphs import structure_to_graph


@pytest.fixture(scope="module")
def released():
    return benchmark_script("released")


@pytest.mark.parametrize("reduce", ["sum", "add", "mean", "mul"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_stand_in_matches_torch_geometric(released, reduce, dim):
    torch.manual_seed(0)
    src = torch.randn(5, 6, dtype=torch.float64)
    index = torch.tensor([0, 2, 2, 0, 3, 3][: src.shape[dim]])
    scatter = released.scatter_module()
    expected = torch_geometric.utils.scatter(src, index, dim=dim, dim_size=5, reduce=reduce)
    function = getattr(scatter, f"scatter_{reduce}")
    torch.testing.assert_close(function(src, index, dim, dim_size=5), expected)
    torch.testing.assert_close(scatter.scatter(src, index, dim, None, 5, reduce), expected)


def test_scatter_stand_in_keeps_torch_scatter_semantics(released):
    scatter = released.scatter_module()
    src = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    index = torch.tensor([0, 0, 2])
    # torch_scatter's default dim is -1, and an empty group's mean is 0.
    torch.testing.assert_close(
        scatter.scatter_sum(src.T, index), torch.tensor([[4.0, 0, 5], [6, 0, 6]])
    )
    torch.testing.assert_close(
        scatter.scatter_mean(src, index, dim=0), torch.tensor([[2.0, 3.0], [0, 0], [5, 6]])
    )
    with pytest.raises(NotImplementedError, match="out"):
        scatter.scatter_sum(src, index, dim=0, out=torch.zeros(3, 2))
    with pytest.raises(NotImplementedError, match="one-dimensional"):
        scatter.scatter_sum(src, index[:, None].expand(3, 2), dim=0)
    with pytest.raises(NotImplementedError, match="torch_cluster"):
        released.cluster_module().radius_graph(torch.zeros(2, 3), 4.0)


def _row(seconds, batch_size=1, extrapolated=False):
    return {
        "settings": {
            "batch_size": batch_size,
            "dtype": "float64",
            "lr": 1e-4,
            "weight_decay": 0.01,
            "layers": 3,
            "transformer": 2,
            "hidden": 256,
            "attn_drop": 0.0,
        },
        "n_parameters": 1000,
        "batches_per_epoch": 1216,
        "batches_timed": 20 if extrapolated else 1216,
        "extrapolated": extrapolated,
        "epoch_seconds": [seconds, seconds],
        "median_epoch_seconds": seconds,
    }


def test_report_gives_ratios_to_ours_and_marks_extrapolated_rows(released):
    result = {
        "command": "python benchmarks/released.py",
        "date": "2025-01-01T00:00:00+00:00",
        "n_train": 1216,
        "epochs": 2,
        "device": "cpu",
        "torch_threads": 2,
        "cores": 2,
        "torch_version": "2",
        "platform": "Linux",
        "torch_scatter": "stand-in",
        "released_repo": {"commit": "2bce6bc4db2983da216834709932a23e5d10fd89", "modified": False},
        "models": {
            "released": _row(90.0, extrapolated=True),
            "ours": _row(3.0, batch_size=32),
            "paper": _row(45.0),
        },
    }
    text = released.table(result)
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) == 5
    assert lines[2].endswith(
        "| 90.0 (90.0, 90.0), extrapolated from 20 of 1216 batches | 30.0× (30.0, 30.0) |"
    )
    assert lines[3].endswith("| 3.0 (3.0, 3.0) | 1.0× (1.0, 1.0) |")
    assert lines[4].endswith("| 45.0 (45.0, 45.0) | 15.0× (15.0, 15.0) |")
    assert "commit 2bce6bc," in text
    assert "2.0 times as long per epoch" in text


@pytest.fixture
def released_code(released):
    """The released code imported from ``$DOS_ESTIMATORS_RELEASED_REPO``, unloaded afterwards."""
    repo = os.environ.get(released.RELEASED_REPO_ENV)
    if not repo or not (Path(repo) / "embedder_phDOS" / "DOSTransformer_phonon.py").is_file():
        pytest.skip(
            f"no checkout of the released code: set {released.RELEASED_REPO_ENV} to a work tree "
            f"of HeewoongNoh/DOSTransformer (commit {released.RELEASED_COMMIT})"
        )
    path, modules = list(sys.path), set(sys.modules)
    try:
        yield released.import_released(Path(repo))
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name.split(".")[0] in ("torch_scatter", "torch_cluster", "utils", "layers") or (
                name.startswith("embedder_")
            ):
                del sys.modules[name]


def test_released_graphs_are_our_paper_graphs_with_edges_flipped(released, released_code):
    code, _ = released_code
    crystals = [rock_salt(), diamond(), wurtzite()]
    dos = np.random.default_rng(0).random((3, 51))
    with released.default_dtype(torch.float64):
        graphs = released.released_graphs(code, crystals, dos, torch.float64)
    masses = element_table("mass_onehot_amu").values
    for crystal, graph, target in zip(crystals, graphs, dos, strict=True):
        ours = structure_to_graph(crystal, cutoff=4.0, node_features=None, self_loops=True)
        # The same one-hot masses; ASE's and ours differ in the last digits (Zn: 65.38
        # against 65.409).
        expected = masses[ours.z.numpy()]
        np.testing.assert_array_equal(graph.x.numpy() != 0, expected != 0)
        np.testing.assert_allclose(graph.x.numpy(), expected, rtol=1e-3)
        assert graph.x.dtype == graph.edge_vec.dtype == graph.phdos.dtype == torch.float64
        np.testing.assert_array_equal(graph.phdos.numpy(), target[None])
        # The same edges, as (sender, receiver, vector) rows: theirs point from
        # edge_index[0] to edge_index[1], ours the other way round.
        theirs = np.column_stack([graph.edge_index.T.numpy(), graph.edge_vec.numpy()])
        flipped = np.column_stack([ours.edge_index.flip(0).T.numpy(), ours.edge_vec.numpy()])
        theirs, flipped = (
            rows[np.lexsort(np.round(rows, 4).T[::-1])] for rows in (theirs, flipped)
        )
        np.testing.assert_allclose(theirs, flipped, atol=1e-5)
    assert [int(g.system) for g in graphs] == [0, 0, 1]  # cubic, cubic, hexagonal


def test_released_model_trains_with_its_settings(released, released_code):
    code, _ = released_code
    dtype = torch.float64
    with released.default_dtype(dtype):
        graphs = released.released_graphs(
            code, [rock_salt(), wurtzite(), diamond()], np.ones((3, 51)), dtype
        )
        args = argparse.Namespace(epochs=1, max_batches=2, device="cpu", released_dtype="float64")
        row = released.time_released(code, graphs, args)
    # The released module's parameters, used or not (docs/differences.md).
    assert row["n_parameters"] == 9_227_149
    assert row["settings"]["batch_size"] == 1 and row["settings"]["lr"] == 1e-4
    assert (row["batches_per_epoch"], row["batches_timed"], row["extrapolated"]) == (3, 2, True)
    assert row["median_epoch_seconds"] > 0 and np.isfinite(row["last_batch_loss"])
    assert torch.get_default_dtype() == torch.float32
