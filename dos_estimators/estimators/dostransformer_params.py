"""Parameters of ``DOSTransformerRegressor``: their options and checks, and presets.

:data:`PAPER_PARAMS` is the released code's model and training recipe, the preset of
:meth:`DOSTransformerRegressor.paper
<dos_estimators.estimators.DOSTransformerRegressor.paper>`; it is also importable from
``dos_estimators.estimators.dostransformer``. :func:`check_params` raises for parameters
that no network can be built from, before any data is read.
"""

from __future__ import annotations

from ..nn import (
    ATTENTIONS,
    EDGE_BASES,
    ENCODERS,
    ENERGY_ENCODINGS,
    FUSIONS,
    HEADS,
    PRIOR_READOUTS,
    PROMPTS,
    prompt_width,
)
from ..structures import CRYSTAL_SYSTEMS
from .validation import Flag, Integer, OneOf

__all__ = [
    "LR_SCHEDULES",
    "NETWORK_PARAMS",
    "OPTIONS",
    "PAPER_PARAMS",
    "PARAMETER_CONSTRAINTS",
    "check_params",
]

LR_SCHEDULES = ("onecycle", "constant")

OPTIONS = {
    "encoder": ENCODERS,
    "edge_basis": EDGE_BASES,
    "attention": ATTENTIONS,
    "fusion": FUSIONS,
    "prompt": PROMPTS,
    "energy_encoding": ENERGY_ENCODINGS,
    "heads": HEADS,
    "prior_readout": PRIOR_READOUTS,
    "lr_schedule": LR_SCHEDULES,
}
"""The parameters that name a choice, and the values each may take."""

PARAMETER_CONSTRAINTS = {
    **{name: Integer(1) for name in ("hidden", "n_heads", "n_cross_layers", "n_self_layers")},
    **{name: Integer(0) for name in ("n_gnn_layers", "n_cross_layers_out")},
    **{
        name: Flag()
        for name in ("share_paths", "composition_stats", "crystal_descriptors", "self_loops")
    },
    **{name: OneOf(tuple(options)) for name, options in OPTIONS.items()},
}
"""What each of DOSTransformerRegressor's own parameters may be, one at a time."""

NETWORK_PARAMS = (
    "hidden",
    "n_heads",
    "n_gnn_layers",
    "n_cross_layers",
    "n_self_layers",
    "n_cross_layers_out",
    "dropout",
    "cutoff",
    "pooling",
    "composition_stats",
    "encoder",
    "edge_basis",
    "attention",
    "fusion",
    "share_paths",
    "prompt",
    "energy_encoding",
    "heads",
    "prior_readout",
)
"""The parameters passed as they are to :class:`~dos_estimators.nn.DOSTransformer`."""

PAPER_PARAMS = {
    # Architecture of the released code (HeewoongNoh/DOSTransformer, phonon model and
    # main_phDOS.py defaults: hidden 256, 3 graph-network layers, 2 transformer layers in
    # each of its three attention stacks, one head, attention dropout 0).
    "hidden": 256,
    "n_heads": 1,
    "n_gnn_layers": 3,
    "n_cross_layers": 2,
    "n_self_layers": 2,
    "n_cross_layers_out": 2,
    "dropout": 0.0,
    "beta": 1.0,
    "cutoff": 4.0,
    "node_features": "mass_onehot_amu",
    "self_loops": True,
    "pooling": "sum",
    "composition_stats": False,
    "crystal_descriptors": False,
    "encoder": "paper",
    "edge_basis": "spherical",
    "attention": "paper",
    "fusion": "concat",
    "share_paths": True,
    "prompt": "learned",
    "energy_encoding": "learned",
    "heads": "linear",
    # Training recipe of the released code: AdamW, constant lr 1e-4, weight decay 1e-2,
    # one crystal per batch, up to 1000 epochs, stop after 50 without a better validation.
    "lr": 1e-4,
    "weight_decay": 1e-2,
    "lr_schedule": "constant",
    "batch_size": 1,
    "max_epochs": 1000,
    "patience": 50,
}
"""Parameters of :meth:`DOSTransformerRegressor.paper`: the released code's model and recipe.

What it does not reproduce (float64 arithmetic, evaluation every fifth epoch, the
missing key-padding mask) is listed in ``docs/differences.md``.
"""


def check_params(estimator) -> None:
    """Raise ``ValueError`` for DOSTransformer parameters that do not fit together.

    Each parameter alone was checked against :data:`PARAMETER_CONSTRAINTS` first.

    Parameters
    ----------
    estimator : DOSTransformerRegressor

    Raises
    ------
    ValueError
        For ``hidden`` not divisible by ``n_heads``, an odd ``hidden`` with
        ``energy_encoding="sinusoidal"``, or one-hot prompts narrower than the number
        of crystal systems.
    """
    hidden, n_heads = estimator.hidden, estimator.n_heads
    if hidden % n_heads:
        raise ValueError(
            f"hidden={hidden} must be divisible by n_heads={n_heads} "
            "(each attention head gets hidden / n_heads features)."
        )
    if estimator.energy_encoding == "sinusoidal" and hidden % 2:
        raise ValueError(f"energy_encoding='sinusoidal' needs an even hidden, got hidden={hidden}.")
    width = prompt_width(estimator.fusion, hidden)
    if estimator.prompt == "onehot" and width < len(CRYSTAL_SYSTEMS):
        raise ValueError(
            f"prompt='onehot' needs a prompt of at least {len(CRYSTAL_SYSTEMS)} features; "
            f"with fusion={estimator.fusion!r} and hidden={hidden} it has {width}."
        )
