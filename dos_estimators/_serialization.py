"""The model-file container: tagged JSON values, safetensors framing, checksum, atomic write.

Imports nothing of the package: the estimators (which know what to store) and
:mod:`dos_estimators.model_files` (the public functions) build on it. A file is a
safetensors file whose metadata holds ``format``, ``format_version``, the writing
package's version, the estimator as JSON (``estimator``) and a sha256 over all of it
and the tensors (see ``docs/model_files.md``).
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
from safetensors.torch import save as save_tensors

FORMAT = "dos_estimators.model"
"""Value of the ``format`` metadata entry that marks a model file."""

FORMAT_VERSION = 1
"""Version of the file layout written by ``save``; files up to it load."""

# safetensors refuses headers over 100 MB; a larger length means a damaged file.
_MAX_HEADER = 100_000_000


class NotStorable(ValueError):
    """A value that JSON cannot hold without pickle."""


def describe(value) -> str:
    """``repr(value)``, cut to 60 characters for messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- JSON values ---------------------------------------------------------------------------
def encode(value, where: str, components: dict):
    """``value`` as JSON data, with tagged objects for what JSON lacks.

    Tuples, dictionaries, paths, non-finite floats, NumPy scalars and NumPy arrays
    (numeric, boolean, string, or object arrays of strings) are tagged so that
    :func:`decode` gives back the same type; an instance of one of ``components``
    (name → class) is stored as its attributes, a torch module among them as its
    weights. Anything else raises :class:`NotStorable`, naming ``where`` it was.
    """
    # Before int and float: np.float64 is a float, and must come back as np.float64.
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return {"__numpy__": value.dtype.str, "value": encode(value.item(), where, components)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, PurePath):  # a folder or file parameter (a prior's cache)
        return {"__path__": str(value)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray) and _storable_array(value):
        return {
            "__ndarray__": value.dtype.str,
            "shape": list(value.shape),
            "values": [encode(v, where, components) for v in value.ravel().tolist()],
        }
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]", components) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        items = [encode(v, f"{where}[{i}]", components) for i, v in enumerate(value)]
        return {"__tuple__": items}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        items = {key: encode(v, f"{where}[{key!r}]", components) for key, v in value.items()}
        return {"__dict__": items}
    if components.get(type(value).__name__) is type(value):
        return _encode_component(value, where, components)
    raise NotStorable(
        f"{where} holds {describe(value)} ({type(value).__module__}.{type(value).__qualname__})"
    )


def _storable_array(value: np.ndarray) -> bool:
    kind = value.dtype.kind
    return kind in "biufU" or (kind == "O" and all(isinstance(v, str) for v in value.flat))


def _encode_component(value, where: str, components: dict) -> dict:
    """A component's attributes, a torch module among them as its state dict."""
    state = {}
    for key, item in vars(value).items():
        if isinstance(item, torch.nn.Module):
            weights = {
                name: encode(tensor.detach().cpu().numpy(), f"{where}.{key}.{name}", components)
                for name, tensor in item.state_dict().items()
            }
            state[key] = {"__state_dict__": weights}
        else:
            state[key] = encode(item, f"{where}.{key}", components)
    return {"__component__": type(value).__name__, "state": state}


def _decode_component(value, components: dict):
    """A component from its tagged state (see :func:`encode`).

    Attributes that were torch modules are rebuilt by the class's
    ``_module_from_state(weights)``.
    """
    cls = components.get(value["__component__"])
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
            setattr(component, key, decode(item, components))
    for key, item in modules.items():
        weights = {
            k: torch.from_numpy(decode(v, components)) for k, v in item["__state_dict__"].items()
        }
        try:
            setattr(component, key, component._module_from_state(weights))
        except (RuntimeError, KeyError, AttributeError) as err:
            raise ValueError(f"the weights of {cls.__name__}.{key} do not fit it ({err})") from None
    return component


def _stored_dtype(text, kinds: str) -> np.dtype:
    """The NumPy dtype named ``text`` in a file, if it is of one of the ``kinds`` it may be."""
    dtype = np.dtype(str(text))
    if dtype.kind not in kinds or dtype.fields is not None:
        raise ValueError(f"dtype {text!r} is not one a model file stores")
    return dtype


def _decode_array(value, components: dict) -> np.ndarray:
    dtype = _stored_dtype(value["__ndarray__"], "biufUO")
    values = [decode(v, components) for v in value["values"]]
    if dtype.kind == "O":
        if not all(isinstance(v, str) for v in values):
            raise ValueError("an object array holds values other than strings")
        array = np.empty(len(values), dtype=object)
        array[:] = values
    else:
        array = np.array(values, dtype=dtype)
    return array.reshape(value["shape"])


def decode(value, components: dict):
    """Inverse of :func:`encode` (with the same ``components``)."""
    if isinstance(value, list):
        return [decode(v, components) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__path__" in value:
        return Path(str(value["__path__"]))
    if "__numpy__" in value:
        return _stored_dtype(value["__numpy__"], "biufU").type(decode(value["value"], components))
    if "__ndarray__" in value:
        return _decode_array(value, components)
    if "__tuple__" in value:
        return tuple(decode(v, components) for v in value["__tuple__"])
    if "__dict__" in value:
        return {key: decode(v, components) for key, v in value["__dict__"].items()}
    if "__component__" in value:
        return _decode_component(value, components)
    raise ValueError(f"unknown tagged value {sorted(value)}")


def canonical(data) -> bytes:
    """``data`` as compact JSON with sorted keys: the bytes the checksum covers."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- the container -------------------------------------------------------------------------
def _header_length(blob: bytes, source: str) -> int:
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
    return n_header


def split(blob: bytes, source: str):
    """Metadata, tensor table and data buffer of a safetensors file, checked for length.

    The header is parsed here (it is JSON) so that a truncated or damaged file is
    named as such before anything else reads it.
    """
    n_header = _header_length(blob, source)
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


def checksum(metadata: dict, table: dict, data: bytes) -> str:
    """sha256 of the metadata (less the checksum), the tensor table and the tensor bytes."""
    signed = {key: value for key, value in metadata.items() if key != "sha256"}
    digest = hashlib.sha256(canonical({"metadata": signed, "tensors": table}))
    digest.update(data)
    return digest.hexdigest()


def serialize(
    document: dict, tensors: dict, *, package_version: str, format_version: int = FORMAT_VERSION
) -> bytes:
    """A signed model file holding ``document`` (JSON data) and ``tensors`` (name → tensor)."""
    metadata = {
        "format": FORMAT,
        "format_version": str(format_version),
        "dos_estimators_version": package_version,
        "estimator": json.dumps(document, allow_nan=False, separators=(",", ":")),
    }
    # The tensor table and data do not depend on the metadata: sign those of a first
    # serialisation, then write them again with the signed metadata.
    _, table, data = split(save_tensors(tensors), "the serialised weights")
    metadata["sha256"] = checksum(metadata, table, data)
    blob = save_tensors(tensors, metadata=metadata)
    written, written_table, written_data = split(blob, "the serialised model")
    signed = checksum(written, written_table, written_data)
    if written_table != table or signed != metadata["sha256"]:
        raise RuntimeError("safetensors laid the same tensors out differently twice.")
    return blob


def _format_version(metadata: dict, source: str, package_version: str) -> int:
    written_by = metadata.get("dos_estimators_version", "an unknown version")
    try:
        version = int(metadata["format_version"])
    except (KeyError, ValueError):
        raise ValueError(
            f"{source} is corrupted: format_version={metadata.get('format_version')!r} "
            "is not an integer."
        ) from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{source} uses model-file format version {version}, newer than version "
            f"{FORMAT_VERSION} that dos_estimators {package_version} reads (it was written by "
            f"dos_estimators {written_by}). Upgrade dos_estimators to load it."
        )
    if version < 1:
        raise ValueError(f"{source} is corrupted: format_version={version} is below 1.")
    return version


def verified_document(blob: bytes, source: str, *, package_version: str):
    """The estimator JSON of a model file after every integrity check, and who wrote it.

    Raises
    ------
    ValueError
        If the file is truncated, not a model file, of a newer format version, or its
        checksum does not match; the message names ``source``.
    """
    metadata, table, data = split(blob, source)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(
            f"{source} is a safetensors file but not a dos_estimators model file (its metadata "
            f"has no format={FORMAT!r} entry)."
        )
    _format_version(metadata, source, package_version)
    if not hmac.compare_digest(str(metadata.get("sha256", "")), checksum(metadata, table, data)):
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
    return document, metadata.get("dos_estimators_version", "an unknown version")


def atomic_write(path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temporary file beside it, then rename it over.

    A process killed mid-write leaves the previous file whole; the file gets the mode
    a plain write would have given it.
    """
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
