"""The rows of the paper's tables: :data:`MODELS`, and :func:`build`, their estimators.

Each row of the paper's tables is a key of :data:`MODELS`; :func:`build` makes its
estimator from the command line (``--quick``, ``--max-epochs``, ``--param``, parsed by
:func:`parse_params`).
"""

from __future__ import annotations

import inspect
import json

from dos_estimators import (
    DOSTransformerRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
    tree_reference,
)

# key: (table label, estimator, fixed parameters)
MODELS = {
    "trees": ("Tree reference", tree_reference, {}),
    "mlp": ("MLP ✗", MLPDOSRegressor, {"use_energy": False}),
    "mlp_energy": ("MLP ✓", MLPDOSRegressor, {"use_energy": True}),
    "graph_network": ("Graph Network ✗", GraphNetworkDOSRegressor, {"use_energy": False}),
    "graph_network_energy": ("Graph Network ✓", GraphNetworkDOSRegressor, {"use_energy": True}),
    "e3nn": ("E3NN ✗", E3NNDOSRegressor, {"use_energy": False}),
    "e3nn_energy": ("E3NN ✓", E3NNDOSRegressor, {"use_energy": True}),
    "dostransformer": ("DOSTransformer", DOSTransformerRegressor, {}),
}

QUICK = {"max_epochs": 6, "patience": None}
QUICK_BY_MODEL = {
    "trees": {"n_estimators": 50},
    "mlp": {"hidden": 64},
    "graph_network": {"hidden": 64},
    "e3nn": {"hidden": 32, "embedding": 32, "mul": 8, "max_epochs": 3},
    "dostransformer": {"hidden": 64},
}


def parse_params(items):
    """``[MODEL:]NAME=VALUE`` strings → {model or None: {name: value}}."""
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        model, _, name = name.rpartition(":")
        try:
            params.setdefault(model or None, {})[name] = json.loads(value)
        except json.JSONDecodeError:
            params.setdefault(model or None, {})[name] = value
    return params


def build(key, args, seed):
    """The estimator of one row with its quick, command-line and fixed parameters."""
    _, factory, fixed = MODELS[key]
    family = key.removesuffix("_energy")
    if factory is tree_reference:
        accepted = set(inspect.signature(factory).parameters)
        settings = dict(QUICK_BY_MODEL["trees"]) if args.quick else {}
        settings.update({k: v for k, v in args.params.get(None, {}).items() if k in accepted})
        settings.update(args.params.get(key, {}))
        return factory(random_state=seed, n_jobs=-1, **settings)
    accepted = factory().get_params()
    settings = {}
    if args.quick:
        settings.update(QUICK)
        settings.update(QUICK_BY_MODEL.get(family, {}))
    if args.max_epochs:
        settings["max_epochs"] = args.max_epochs
    settings.update({k: v for k, v in args.params.get(None, {}).items() if k in accepted})
    settings.update(args.params.get(family, {}))
    settings.update(args.params.get(key, {}))
    settings.update(fixed)
    return factory(device=args.device, random_state=seed, verbose=args.verbose, **settings)
