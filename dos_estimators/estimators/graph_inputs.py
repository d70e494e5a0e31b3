"""What a regressor on crystal structures feeds its network: graphs with their features.

:func:`fit_graph_inputs` learns, once in ``fit``, every transformation of the training
structures (node features, crystal features, the prior); :func:`graph_inputs` then
turns any structures into the network's inputs with what was learned, and never
learns anything itself.
"""

from __future__ import annotations

import numpy as np
import torch

from ..features.atoms import NodeFeatureUnion, is_table
from ..features.crystal import CrystalFeatures
from ..graphs import CRYSTAL_ATTR_NAMES, structures_to_graphs
from ..nn import ATOM_ENCODER_INPUT
from ..phonons import require_energies
from .prior import make_prior, prior_channels
from .validation import check_energies, check_targets


def default_descriptors(estimator) -> int:
    """How many density descriptors lead the crystal attributes of ``estimator``'s graphs."""
    return len(CRYSTAL_ATTR_NAMES) if estimator._uses_crystal_descriptors else 0


def _descriptors(estimator) -> int:
    """The fitted number of descriptors, or (models saved before it existed) the default."""
    return getattr(estimator, "n_crystal_descriptors_", default_descriptors(estimator))


def fit_graph_inputs(estimator, structures, y, energies) -> None:
    """Learn the input transformations of ``estimator`` from its training structures.

    Sets ``node_table_``, ``n_crystal_descriptors_``, ``node_features_``,
    ``crystal_features_``, ``n_crystal_attr_`` and, for a regressor with a ``prior``
    parameter, ``prior_`` and ``prior_amplitude_``. Learned from the structures passed
    to fit (the ``validation_fraction`` part included; an explicit ``X_valid`` is not),
    never from those predicted for.

    Parameters
    ----------
    estimator : GraphDOSRegressor
    structures : list of pymatgen.core.Structure
        Checked.
    y : array-like of shape (n_structures, n_energies) or None
    energies : array-like of shape (n_energies,) or None
        The grid of ``y`` (``fit``'s ``energies``).
    """
    node_features = estimator.node_features
    estimator.node_table_ = node_features if is_table(node_features) else None
    estimator.n_crystal_descriptors_ = default_descriptors(estimator)
    targets = None if y is None else check_targets(y, len(structures))
    estimator.node_features_ = None
    if estimator.node_table_ is None:
        union = NodeFeatureUnion(node_features, random_state=estimator.random_state)
        estimator.node_features_ = union.fit(structures, targets)
    spec = getattr(estimator, "crystal_features", None)
    estimator.crystal_features_ = None
    if spec is not None:
        estimator.crystal_features_ = CrystalFeatures(spec).fit(structures, targets)
    width = 0 if estimator.crystal_features_ is None else len(estimator.crystal_features_.mean_)
    estimator.n_crystal_attr_ = estimator.n_crystal_descriptors_ + width
    _fit_prior(estimator, structures, targets, energies)


def _fit_prior(estimator, structures, targets, energies) -> None:
    """Fit the ``prior`` parameter (of the estimators that have one) on the training grid."""
    if not hasattr(estimator, "prior"):
        return
    spec, estimator.prior_ = estimator.prior, None
    if spec is None:
        return
    if targets is None:
        raise ValueError("prior= needs the training DOS y.")
    require_energies(energies, "fit with prior=")
    grid = check_energies(energies, targets.shape[1])
    estimator.prior_ = make_prior(spec).fit(structures, targets, energies=grid)
    # The prior is max-scaled; the network sees it at the training rows' typical height.
    estimator.prior_amplitude_ = float(np.median(targets.max(axis=1))) / max(
        float(targets.max()), np.finfo(float).tiny
    )


def _add_node_features(node_features, structures, graphs) -> None:
    features = node_features.transform(structures)
    for graph, x in zip(graphs, features, strict=True):
        graph.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    # A fine-tuned potential reads its own graph of each crystal in the network.
    encoder_inputs = node_features.encoder_inputs(structures)
    if encoder_inputs is not None:
        for graph, item in zip(graphs, encoder_inputs, strict=True):
            graph[ATOM_ENCODER_INPUT] = item


def _add_crystal_features(estimator, structures, graphs) -> None:
    crystal_features = getattr(estimator, "crystal_features_", None)
    extra = (
        crystal_features.transform(structures)
        if crystal_features is not None
        else np.zeros((len(graphs), 0), dtype=np.float32)
    )
    descriptors = _descriptors(estimator)
    for graph, row in zip(graphs, extra, strict=True):
        graph.crystal_attr = torch.cat(
            [graph.crystal_attr[:, :descriptors], torch.from_numpy(row[None, :])], dim=1
        )


def graph_inputs(estimator, structures, energies=None) -> list:
    """The network's inputs for ``structures``, with what :func:`fit_graph_inputs` learned.

    Parameters
    ----------
    estimator : GraphDOSRegressor
    structures : list of pymatgen.core.Structure
        Checked.
    energies : array-like of shape (n_energies,), optional
        A grid other than the training one on which the prior is given.

    Returns
    -------
    list of torch_geometric.data.Data
        One graph per structure: ``x`` [n_atoms, F], ``crystal_attr`` [1, C], and with
        a prior ``prior`` [1, n_energies, 3].
    """
    # Models saved before node_table_ existed read the parameter.
    graphs = structures_to_graphs(
        structures,
        cutoff=estimator._cutoff,
        node_features=getattr(estimator, "node_table_", estimator.node_features),
        verbose=estimator.verbose,
        self_loops=bool(getattr(estimator, "self_loops", False)),
    )
    node_features = getattr(estimator, "node_features_", None)
    if node_features is not None:
        _add_node_features(node_features, structures, graphs)
    _add_crystal_features(estimator, structures, graphs)
    prior = getattr(estimator, "prior_", None)
    if prior is not None:
        readout = getattr(estimator, "prior_readout", "masked")
        channels = prior_channels(prior, structures, energies, readout)
        channels = channels * estimator.prior_amplitude_
        for graph, channel in zip(graphs, channels, strict=True):
            graph.prior = torch.from_numpy(channel[None].astype(np.float32))
    return graphs
