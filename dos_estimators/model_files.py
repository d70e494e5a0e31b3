"""Model files: a fitted regressor saved to, and loaded from, one safetensors file.

No pickle anywhere: parameters and fitted attributes are JSON in the file's header,
weights are raw tensors, and a sha256 checksum covers both (see ``docs/model_files.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import tempfile
from pathlib import Path, PurePath

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from .estimators import (
    DOSTransformerRegressor,
    DOSVectorRegressor,
    E3NNDOSRegressor,
    GraphDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
)
from .estimators.base import seeded

FORMAT = "dos_estimators.model"
"""Value of the ``format`` metadata entry that marks a model file."""

FORMAT_VERSION = 1
"""Version of the file layout written by :func:`save_model`; files up to it load."""

ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        DOSTransformerRegressor,
        DOSVectorRegressor,
        E3NNDOSRegressor,
        GraphNetworkDOSRegressor,
        MLPDOSRegressor,
    )
}
"""The classes a model file may name: nothing else is ever instantiated by :func:`load_model`."""

# Attributes rebuilt from the weights rather than stored as JSON.
_NETWORKS = ("net_", "nets_")
# safetensors refuses headers over 100 MB; a larger length means a damaged file.
_MAX_HEADER = 100_000_000
_PICKLE_ADVICE = (
    "A model file stores only JSON values, NumPy arrays and tensors, never pickled objects. "
    "Set it to None or to such a value before saving (set_params), or, if whoever loads "
    "the model can trust you, save the whole estimator with pickle or joblib instead "
    "(unpickling runs arbitrary code)."
)


class _NotStorable(ValueError):
    """A value that JSON cannot hold without pickle."""


# -- JSON values ---------------------------------------------------------------------------
def _encode(value, where: str):
    """``value`` as JSON data, with tagged objects for what JSON lacks.

    Tuples, dictionaries, paths, non-finite floats, NumPy scalars and NumPy arrays (numeric,
    boolean, string, or object arrays of strings) are tagged so that :func:`_decode`
    gives back the same type; anything else raises :class:`_NotStorable`.
    """
    # Before int and float: np.float64 is a float, and must come back as np.float64.
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return {"__numpy__": value.dtype.str, "value": _encode(value.item(), where)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, PurePath):  # a folder or file parameter (a prior's cache)
        return {"__path__": str(value)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in "biufU" or (kind == "O" and all(isinstance(v, str) for v in value.flat)):
            return {
                "__ndarray__": value.dtype.str,
                "shape": list(value.shape),
                "values": [_encode(v, where) for v in value.ravel().tolist()],
            }
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"__dict__": {key: _encode(v, f"{where}[{key!r}]") for key, v in value.items()}}
    if _components().get(type(value).__name__) is type(value):
        state = {}
        for key, item in vars(value).items():
            if isinstance(item, torch.nn.Module):
                weights = {
                    name: _encode(tensor.detach().cpu().numpy(), f"{where}.{key}.{name}")
                    for name, tensor in item.state_dict().items()
                }
                state[key] = {"__state_dict__": weights}
            else:
                state[key] = _encode(item, f"{where}.{key}")
        return {"__component__": type(value).__name__, "state": state}
    raise _NotStorable(
        f"{where} holds {_describe(value)} ({type(value).__module__}.{type(value).__qualname__})"
    )


def _components() -> dict:
    """The package's node-feature classes a model file may hold, by name.

    Their state is parameters, arrays and (for the learned embeddings) one torch
    module's weights; nothing else is ever instantiated from a file.
    """
    from .embeddings import (
        CHGNetAtomEmbedding,
        ContrastiveAtomEmbedding,
        ElementEmbedding,
        NodeFeatureUnion,
        SevenNetAtomEmbedding,
        VAEAtomEmbedding,
    )
    from .embeddings._sites import Standardizer
    from .phonons import PotentialPhonons

    return {
        cls.__name__: cls
        for cls in (
            CHGNetAtomEmbedding,
            ContrastiveAtomEmbedding,
            ElementEmbedding,
            NodeFeatureUnion,
            PotentialPhonons,
            SevenNetAtomEmbedding,
            Standardizer,
            VAEAtomEmbedding,
        )
    }


def _decode_component(value):
    """A node-feature object from its tagged state (see :func:`_encode`)."""
    cls = _components().get(value["__component__"])
    if cls is None:
        raise ValueError(f"{value['__component__']!r} is not a component a model file holds")
    component = cls.__new__(cls)
    state = value["state"]
    if not all(isinstance(key, str) and key.isidentifier() for key in state):
        raise ValueError(f"{sorted(state)} are not all attribute names")
    modules = {k: v for k, v in state.items() if isinstance(v, dict) and "__state_dict__" in v}
    # Parameters and arrays first: rebuilding a module reads the parameters.
    for key, item in state.items():
        if key not in modules:
            setattr(component, key, _decode(item))
    for key, item in modules.items():
        weights = {k: torch.from_numpy(_decode(v)) for k, v in item["__state_dict__"].items()}
        try:
            setattr(component, key, component._module_from_state(weights))
        except (RuntimeError, KeyError, AttributeError) as err:
            raise ValueError(f"the weights of {cls.__name__}.{key} do not fit it ({err})") from None
    return component


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _stored_dtype(text, kinds: str) -> np.dtype:
    """The NumPy dtype named ``text`` in a file, if it is of one of the ``kinds`` it may be."""
    dtype = np.dtype(str(text))
    if dtype.kind not in kinds or dtype.fields is not None:
        raise ValueError(f"dtype {text!r} is not one a model file stores")
    return dtype


def _decode(value):
    """Inverse of :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__path__" in value:
        return Path(str(value["__path__"]))
    if "__numpy__" in value:
        return _stored_dtype(value["__numpy__"], "biufU").type(_decode(value["value"]))
    if "__ndarray__" in value:
        dtype = _stored_dtype(value["__ndarray__"], "biufUO")
        values = [_decode(v) for v in value["values"]]
        if dtype.kind == "O":
            if not all(isinstance(v, str) for v in values):
                raise ValueError("an object array holds values other than strings")
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            array = np.array(values, dtype=dtype)
        return array.reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {key: _decode(v) for key, v in value["__dict__"].items()}
    if "__component__" in value:
        return _decode_component(value)
    raise ValueError(f"unknown tagged value {sorted(value)}")


def _canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- the container -------------------------------------------------------------------------
def _split(blob: bytes, source: str):
    """Metadata, tensor table and data buffer of a safetensors file, checked for length.

    The header is parsed here (it is JSON) so that a truncated or damaged file is
    named as such before anything else reads it.
    """
    if len(blob) < 8:
        raise ValueError(
            f"{source} is truncated: {len(blob)} bytes, fewer than the 8 of a safetensors "
            "header length."
        )
    n_header = int.from_bytes(blob[:8], "little")
    if n_header > _MAX_HEADER:
        raise ValueError(
            f"{source} is not a dos_estimators model file, or is corrupted: its first 8 bytes "
            f"announce a header of {n_header} bytes."
        )
    if 8 + n_header > len(blob):
        raise ValueError(
            f"{source} is truncated: its header announces {n_header} bytes but the file has "
            f"{len(blob)} in all."
        )
    try:
        header = json.loads(blob[8 : 8 + n_header])
        metadata = header.pop("__metadata__", None)
        end = max((int(entry["data_offsets"][1]) for entry in header.values()), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as err:
        raise ValueError(
            f"{source} is not a dos_estimators model file, or its header is corrupted ({err})."
        ) from None
    expected = 8 + n_header + end
    if len(blob) < expected:
        raise ValueError(
            f"{source} is truncated: {len(blob)} bytes where its header announces {expected}."
        )
    if len(blob) > expected:
        raise ValueError(
            f"{source} is corrupted: {len(blob) - expected} bytes follow the last tensor."
        )
    return metadata, header, blob[8 + n_header :]


def _checksum(metadata: dict, table: dict, data: bytes) -> str:
    """sha256 of the metadata (less the checksum), the tensor table and the tensor bytes."""
    signed = {key: value for key, value in metadata.items() if key != "sha256"}
    digest = hashlib.sha256(_canonical({"metadata": signed, "tensors": table}))
    digest.update(data)
    return digest.hexdigest()


def _serialize(document: dict, tensors: dict, format_version: int = FORMAT_VERSION) -> bytes:
    """A signed model file holding ``document`` (JSON data) and ``tensors``."""
    from . import __version__

    metadata = {
        "format": FORMAT,
        "format_version": str(format_version),
        "dos_estimators_version": __version__,
        "estimator": json.dumps(document, allow_nan=False, separators=(",", ":")),
    }
    # The tensor table and data do not depend on the metadata: sign those of a first
    # serialisation, then write them again with the signed metadata.
    _, table, data = _split(save_tensors(tensors), "the serialised weights")
    metadata["sha256"] = _checksum(metadata, table, data)
    blob = save_tensors(tensors, metadata=metadata)
    written, written_table, written_data = _split(blob, "the serialised model")
    signed = _checksum(written, written_table, written_data)
    if written_table != table or signed != metadata["sha256"]:
        raise RuntimeError("safetensors laid the same tensors out differently twice.")
    return blob


# -- saving --------------------------------------------------------------------------------
def _in_features(estimator) -> int:
    if isinstance(estimator, GraphDOSRegressor):
        return int(estimator.n_node_features_)
    return int(estimator.n_features_in_)


def _member_tensors(module: torch.nn.Module, prefix: str):
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


def save_model(estimator, path, *, notes=None) -> None:
    """Write a fitted regressor to one safetensors file at ``path``.

    Prefer :meth:`DOSRegressorBase.save <dos_estimators.estimators.DOSRegressorBase.save>`,
    which calls this.

    Parameters
    ----------
    estimator : DOSTransformerRegressor, MLPDOSRegressor, GraphNetworkDOSRegressor, \
E3NNDOSRegressor or DOSVectorRegressor
        Fitted.
    path : str or os.PathLike
        The file to write (replaced if it exists); nothing else is written. The
        suffix ``.safetensors`` lets safetensors tools recognise it.
    notes : dict, optional
        JSON values kept with the model and covered by its checksum: how it was made
        (the command, the data), its measured accuracy. Read back with
        :func:`read_notes`.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If ``estimator`` is not one of the package's regressors, has callbacks, or holds a
        parameter or fitted attribute that is not a JSON value or NumPy array (the message
        names it and points to pickle).
    """
    name = type(estimator).__name__
    if ESTIMATORS.get(name) is not type(estimator):
        raise ValueError(
            f"save supports the regressors of dos_estimators ({', '.join(sorted(ESTIMATORS))}); "
            f"{type(estimator).__module__}.{type(estimator).__qualname__} is not one of them. "
            "Pickle it (pickle or joblib) if whoever loads it can trust you."
        )
    check_is_fitted(estimator, "nets_")
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        raise ValueError(
            f"callbacks={_describe(params['callbacks'])} holds skorch callback objects, which a "
            "model file cannot store. They only act during training: set_params(callbacks=None) "
            "before saving and pass them again before fine-tuning. " + _PICKLE_ADVICE
        )
    attributes = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_") and key not in _NETWORKS
    }
    try:
        document = {
            "class": name,
            "params": {key: _encode(v, f"parameter {key}") for key, v in sorted(params.items())},
            "attributes": {
                key: _encode(v, f"fitted attribute {key}") for key, v in sorted(attributes.items())
            },
            "in_features": _in_features(estimator),
            "members": [],
        }
        if notes is not None:
            if not isinstance(notes, dict):
                raise _NotStorable(f"notes must be a dict, got {_describe(notes)}")
            document["notes"] = _encode(notes, "notes")
        tensors = {}
        for i, net in enumerate(estimator.nets_):
            weights, aliases = _member_tensors(net.module_, f"nets.{i}.")
            tensors.update(weights)
            document["members"].append(
                {
                    "seed": int(net.iterator_train__generator.initial_seed()),
                    "lr": _encode(net.lr, f"nets_[{i}].lr"),
                    "max_epochs": int(net.max_epochs),
                    "aliases": aliases,
                    "history": _encode(net.history.to_list(), f"nets_[{i}].history"),
                }
            )
    except _NotStorable as err:
        raise ValueError(f"cannot save this {name}: {err}. {_PICKLE_ADVICE}") from None
    blob = _serialize(document, tensors)

    # Serialised in memory first: an estimator that cannot be saved never touches path.
    # Written to a temporary file beside it, then renamed over it: a process killed
    # mid-write leaves the previous file whole.
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private; give it the mode a plain write would have.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- loading -------------------------------------------------------------------------------
def read_notes(path) -> dict:
    """The notes saved with a model (``save_model(..., notes=)``), after the file's checks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        Empty if the model was saved without notes.

    Raises
    ------
    ValueError
        As :func:`load_model`, for a file that is not an intact model file.
    """
    source = f"model file {os.fspath(path)!r}"
    document, _ = _verified_document(Path(path).read_bytes(), source)
    try:
        return _decode(document.get("notes", {"__dict__": {}}))
    except (TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValueError(f"{source} is corrupted: malformed notes ({err}).") from None


def _verified_document(blob: bytes, source: str):
    """The estimator JSON of a model file, after every integrity check, and who wrote it."""
    metadata, table, data = _split(blob, source)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(
            f"{source} is a safetensors file but not a dos_estimators model file (its metadata "
            f"has no format={FORMAT!r} entry)."
        )
    written_by = metadata.get("dos_estimators_version", "an unknown version")
    try:
        version = int(metadata["format_version"])
    except (KeyError, ValueError):
        raise ValueError(
            f"{source} is corrupted: format_version={metadata.get('format_version')!r} "
            "is not an integer."
        ) from None
    if version > FORMAT_VERSION:
        from . import __version__

        raise ValueError(
            f"{source} uses model-file format version {version}, newer than version "
            f"{FORMAT_VERSION} that dos_estimators {__version__} reads (it was written by "
            f"dos_estimators {written_by}). Upgrade dos_estimators to load it."
        )
    if version < 1:
        raise ValueError(f"{source} is corrupted: format_version={version} is below 1.")
    if not hmac.compare_digest(str(metadata.get("sha256", "")), _checksum(metadata, table, data)):
        raise ValueError(
            f"{source} was modified or corrupted after it was written: its sha256 checksum "
            "does not match its contents."
        )
    try:
        document = json.loads(metadata["estimator"])
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise ValueError(
            f"{source} is corrupted: its estimator entry is not JSON ({err})."
        ) from None
    return document, written_by


def load_model(path, *, device=None):
    """Load a regressor written by ``save`` — without unpickling anything.

    The file's checksum, length and format version are checked first; then the
    estimator is rebuilt from its class name (one of :data:`ESTIMATORS`) and
    parameters, every ensemble member's module through the estimator's own
    ``_assemble_module`` and its weights loaded. Predictions are bit-identical to those
    of the saved estimator on the same device.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`DOSRegressorBase.save
        <dos_estimators.estimators.DOSRegressorBase.save>`.
    device : str, optional
        Put the networks on this device instead of the saved ``device`` parameter
        (e.g. ``"cpu"`` for a model trained on ``"cuda"``); ``get_params()["device"]``
        then says so.

    Returns
    -------
    DOSTransformerRegressor, MLPDOSRegressor, GraphNetworkDOSRegressor, \
E3NNDOSRegressor or DOSVectorRegressor
        Fitted: ``predict``, ``score`` and ``fine_tune`` work. Its networks carry no
        training callbacks (those are rebuilt by ``fit`` and ``fine_tune``).

    Raises
    ------
    ValueError
        If the file is truncated, was modified after it was written (checksum
        mismatch), uses a newer format version, is not a model file, names a class
        outside :data:`ESTIMATORS`, or holds parameters or weights that this version's
        estimator does not accept; the message says which.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from dos_estimators import DOSVectorRegressor, load_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 5)), rng.random((20, 51))
    >>> model = DOSVectorRegressor(hidden=16, max_epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save(path)
    >>> np.array_equal(load_model(path).predict(X), model.predict(X))
    True
    """
    source = f"model file {os.fspath(path)!r}"
    blob = Path(path).read_bytes()
    document, written_by = _verified_document(blob, source)
    try:
        name = document["class"]
        params = {key: _decode(value) for key, value in document["params"].items()}
        attributes = {key: _decode(value) for key, value in document["attributes"].items()}
        in_features = int(document["in_features"])
        members = document["members"]
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValueError(f"{source} is corrupted: malformed estimator entry ({err}).") from None
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{source} names the estimator class {name!r}, which is not one that load_model "
            f"builds ({', '.join(sorted(ESTIMATORS))})."
        )
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(
            f"{source} holds parameters {unknown} that {name} of this dos_estimators does not "
            f"know (the file was written by dos_estimators {written_by})."
        )
    if device is not None:
        params["device"] = device
    estimator = cls(**params)
    for key, value in attributes.items():
        if not (key.isidentifier() and key.endswith("_") and not key.startswith("_")):
            raise ValueError(f"{source} is corrupted: {key!r} is not a fitted attribute name.")
        setattr(estimator, key, value)

    try:
        tensors = load_tensors(blob)
    except SafetensorError as err:
        raise ValueError(f"{source} is corrupted: its weights do not parse ({err}).") from None
    if not isinstance(members, list) or not members:
        raise ValueError(f"{source} is corrupted: it holds no network.")
    strays = sorted(
        key
        for key in tensors
        if not key.startswith(tuple(f"nets.{i}." for i in range(len(members))))
    )
    if strays:
        raise ValueError(f"{source} is corrupted: tensors {strays[:3]} belong to no network.")
    estimator.nets_ = [
        _rebuild_member(estimator, i, member, tensors, in_features, source)
        for i, member in enumerate(members)
    ]
    estimator.net_ = estimator.nets_[0]
    return estimator


def _rebuild_member(estimator, i: int, member: dict, tensors: dict, in_features: int, source):
    """Ensemble member ``i``: a fresh module with the stored weights, in a skorch net."""
    prefix = f"nets.{i}."
    state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    try:
        for alias, target in member["aliases"].items():
            state[alias] = state[target]
        seed = int(member["seed"])
        lr = _decode(member["lr"])
        max_epochs = int(member["max_epochs"])
        history = History(_decode(member["history"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
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


__all__ = ["ESTIMATORS", "FORMAT", "FORMAT_VERSION", "load_model", "read_notes", "save_model"]
