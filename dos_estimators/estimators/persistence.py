"""How a fitted regressor writes itself to a model file and is rebuilt from one.

The estimators own this (``DOSRegressorBase.save`` and ``DOSRegressorBase.load``);
:mod:`dos_estimators.model_files` only exposes it. The container itself (tagged JSON,
safetensors, checksum, atomic write) is :mod:`dos_estimators._serialization`.

Which classes a file may name is one registry, filled as the package's regressor
classes are defined (``DOSRegressorBase.__init_subclass__`` calls :func:`register`):
nothing else is ever instantiated from a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from .. import _serialization as container
from .._torch import seeded
from .._version import __version__

_REGISTRY: dict[str, type] = {}

# Attributes rebuilt from the weights rather than stored as JSON.
_NETWORKS = ("net_", "nets_")
PICKLE_ADVICE = (
    "A model file stores only JSON values, NumPy arrays and tensors, never pickled objects. "
    "Set it to None or to such a value before saving (set_params), or, if whoever loads "
    "the model can trust you, save the whole estimator with pickle or joblib instead "
    "(unpickling runs arbitrary code)."
)


def register(cls: type) -> None:
    """Let model files name ``cls``: a public, concrete regressor class of this package.

    Classes of other packages, private classes (``_Name``) and classes that set
    ``_abstract = True`` in their body are not registered.
    """
    public = not cls.__name__.startswith("_") and cls.__module__.startswith("dos_estimators.")
    if public and not cls.__dict__.get("_abstract", False):
        _REGISTRY[cls.__name__] = cls


def registered() -> dict[str, type]:
    """The classes a model file may name, by class name (those imported so far)."""
    return dict(_REGISTRY)


def components() -> dict[str, type]:
    """The node-feature and prior classes a model file may hold, by name.

    Their state is parameters, arrays and (for the learned embeddings) one torch
    module's weights; nothing else is ever instantiated from a file.
    """
    from ..features.atoms import (
        CHGNetAtomEmbedding,
        ContrastiveAtomEmbedding,
        ElementEmbedding,
        NodeFeatureUnion,
        SevenNetAtomEmbedding,
        VAEAtomEmbedding,
    )
    from ..features.atoms.learned import Standardizer
    from ..phonons import PotentialPhonons

    classes = (
        CHGNetAtomEmbedding,
        ContrastiveAtomEmbedding,
        ElementEmbedding,
        NodeFeatureUnion,
        PotentialPhonons,
        SevenNetAtomEmbedding,
        Standardizer,
        VAEAtomEmbedding,
    )
    return {cls.__name__: cls for cls in classes}


def encode(value, where: str):
    """``value`` as tagged JSON data (see :func:`dos_estimators._serialization.encode`)."""
    return container.encode(value, where, components())


def decode(value):
    """Inverse of :func:`encode`."""
    return container.decode(value, components())


# -- saving --------------------------------------------------------------------------------
def _in_features(estimator) -> int:
    if hasattr(estimator, "n_node_features_"):
        return int(estimator.n_node_features_)
    return int(estimator.n_features_in_)


def member_tensors(module: torch.nn.Module, prefix: str):
    """A module's state as separate CPU tensors, and the names that alias another entry.

    Modules registered twice (``share_paths=True``) appear under two names in the
    state dict; their tensors are stored once and the second name is an alias.
    """
    tensors, aliases, seen = {}, {}, {}
    for key, tensor in module.state_dict().items():
        tensor = tensor.detach()
        identity = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
            tensor.dtype,
        )
        if identity in seen:
            aliases[key] = seen[identity]
            continue
        seen[identity] = key
        tensors[f"{prefix}{key}"] = tensor.to("cpu", copy=True).contiguous()
    return tensors, aliases


def _check_storable(estimator) -> dict:
    """The estimator's parameters, after checking that a file may hold this estimator."""
    name = type(estimator).__name__
    if _REGISTRY.get(name) is not type(estimator):
        raise ValueError(
            f"save supports the regressors of dos_estimators ({', '.join(sorted(_REGISTRY))}); "
            f"{type(estimator).__module__}.{type(estimator).__qualname__} is not one of them. "
            "Pickle it (pickle or joblib) if whoever loads it can trust you."
        )
    check_is_fitted(estimator, "nets_")
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        raise ValueError(
            f"callbacks={container.describe(params['callbacks'])} holds skorch callback "
            "objects, which a model file cannot store. They only act during training: "
            "set_params(callbacks=None) before saving and pass them again before "
            "fine-tuning. " + PICKLE_ADVICE
        )
    return params


def _member_entry(net, i: int, aliases: dict) -> dict:
    # The keys in the order files were written in before the estimators owned them.
    return {
        "seed": int(net.iterator_train__generator.initial_seed()),
        "lr": encode(net.lr, f"nets_[{i}].lr"),
        "max_epochs": int(net.max_epochs),
        "aliases": aliases,
        "history": encode(net.history.to_list(), f"nets_[{i}].history"),
    }


def document_and_tensors(estimator, notes=None):
    """The JSON document and the tensors that a model file of ``estimator`` holds."""
    params = _check_storable(estimator)
    attributes = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_") and key not in _NETWORKS
    }
    name = type(estimator).__name__
    try:
        document = {
            "class": name,
            "params": {key: encode(v, f"parameter {key}") for key, v in sorted(params.items())},
            "attributes": {
                key: encode(v, f"fitted attribute {key}") for key, v in sorted(attributes.items())
            },
            "in_features": _in_features(estimator),
            "members": [],
        }
        if notes is not None:
            if not isinstance(notes, dict):
                message = f"notes must be a dict, got {container.describe(notes)}"
                raise container.NotStorable(message)
            document["notes"] = encode(notes, "notes")
        tensors = {}
        for i, net in enumerate(estimator.nets_):
            weights, aliases = member_tensors(net.module_, f"nets.{i}.")
            tensors.update(weights)
            document["members"].append(_member_entry(net, i, aliases))
    except container.NotStorable as err:
        raise ValueError(f"cannot save this {name}: {err}. {PICKLE_ADVICE}") from None
    return document, tensors


def save(estimator, path, *, notes=None) -> None:
    """Write ``estimator`` to ``path`` (see ``DOSRegressorBase.save``)."""
    document, tensors = document_and_tensors(estimator, notes)
    # Serialised in memory first: an estimator that cannot be saved never touches path.
    blob = container.serialize(document, tensors, package_version=__version__)
    container.atomic_write(path, blob)


# -- loading -------------------------------------------------------------------------------
def _source(path) -> str:
    return f"model file {os.fspath(path)!r}"


def read_document(blob: bytes, source: str):
    """The checked estimator document of a file's bytes, and the version that wrote it."""
    return container.verified_document(blob, source, package_version=__version__)


def notes_of(path) -> dict:
    """The notes saved with a model (see :func:`dos_estimators.model_files.read_notes`)."""
    source = _source(path)
    document, _ = read_document(Path(path).read_bytes(), source)
    try:
        return decode(document.get("notes", {"__dict__": {}}))
    except (TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValueError(f"{source} is corrupted: malformed notes ({err}).") from None


def _estimator_class(name, source: str, expected: type) -> type:
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{source} names the estimator class {name!r}, which is not one that load_model "
            f"builds ({', '.join(sorted(_REGISTRY))}; dos_estimators.load_model imports "
            "them all)."
        )
    if not issubclass(cls, expected):
        raise ValueError(
            f"{source} holds a {name}, not a {expected.__name__}; load it with "
            "dos_estimators.load_model or that class's load."
        )
    return cls


def _new_estimator(document: dict, source: str, written_by: str, expected: type, device):
    """The estimator of ``document`` with its parameters and fitted attributes, no networks."""
    try:
        name = document["class"]
        params = {key: decode(value) for key, value in document["params"].items()}
        attributes = {key: decode(value) for key, value in document["attributes"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValueError(f"{source} is corrupted: malformed estimator entry ({err}).") from None
    cls = _estimator_class(name, source, expected)
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(
            f"{source} holds parameters {unknown} that {name} of this dos_estimators does not "
            f"know (the file was written by dos_estimators {written_by})."
        )
    # A parameter the class gained after the file was written: the value that builds
    # what the file's networks were fitted as, not today's default.
    params = {**getattr(cls, "_file_defaults", {}), **params}
    if device is not None:
        params["device"] = device
    estimator = cls(**params)
    for key, value in attributes.items():
        if not (key.isidentifier() and key.endswith("_") and not key.startswith("_")):
            raise ValueError(f"{source} is corrupted: {key!r} is not a fitted attribute name.")
        setattr(estimator, key, value)
    return estimator


def load(path, *, device=None, expected: type = object):
    """The regressor a model file holds, its networks rebuilt (see ``load_model``)."""
    source = _source(path)
    blob = Path(path).read_bytes()
    document, written_by = read_document(blob, source)
    estimator = _new_estimator(document, source, written_by, expected, device)
    try:
        in_features = int(document["in_features"])
        members = document["members"]
        tensors = load_tensors(blob)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source} is corrupted: malformed estimator entry ({err}).") from None
    except SafetensorError as err:
        raise ValueError(f"{source} is corrupted: its weights do not parse ({err}).") from None
    if not isinstance(members, list) or not members:
        raise ValueError(f"{source} is corrupted: it holds no network.")
    prefixes = tuple(f"nets.{i}." for i in range(len(members)))
    strays = sorted(key for key in tensors if not key.startswith(prefixes))
    if strays:
        raise ValueError(f"{source} is corrupted: tensors {strays[:3]} belong to no network.")
    estimator.nets_ = [
        _rebuild_member(estimator, i, member, tensors, in_features, source)
        for i, member in enumerate(members)
    ]
    estimator.net_ = estimator.nets_[0]
    return estimator


def _member_settings(member: dict, i: int, source: str):
    try:
        aliases = dict(member["aliases"])
        seed = int(member["seed"])
        lr = decode(member["lr"])
        max_epochs = int(member["max_epochs"])
        history = History(decode(member["history"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(
            f"{source} is corrupted: malformed entry of network {i} ({err})."
        ) from None
    return aliases, seed, lr, max_epochs, history


def _rebuild_member(estimator, i: int, member: dict, tensors: dict, in_features: int, source):
    """Ensemble member ``i``: a fresh module with the stored weights, in a skorch net."""
    prefix = f"nets.{i}."
    state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    aliases, seed, lr, max_epochs, history = _member_settings(member, i, source)
    try:
        for alias, target in aliases.items():
            state[alias] = state[target]
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"{source} is corrupted: malformed entry of network {i} ({err})."
        ) from None
    # Built on the CPU, with torch's global generator left as the caller had it.
    with seeded(seed, "cpu"):
        module = estimator._assemble_module(in_features, estimator.n_energies_)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{source}: the weights of network {i} do not fit the {type(estimator).__name__} "
            f"built from its parameters ({err})."
        ) from None
    net = estimator._new_net(
        module, seed, lr=lr, max_epochs=max_epochs, train_split=None, callbacks=[]
    )
    net.initialize()  # moves the module to the estimator's device
    net.history = history
    return net
