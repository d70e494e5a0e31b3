"""What a training checkpoint was written for: the configuration and data, as digests.

A fit with ``checkpoint_dir`` resumes only from a folder whose manifest holds the same
fingerprint: the estimator's class, the parameters that change what it learns, and
sha256 digests of its inputs, targets and grids.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..nn import ATOM_ENCODER_INPUT

# Parameters that do not change what a fit learns: a resumed fit may differ in them.
UNCHECKED_PARAMS = ("checkpoint_dir", "callbacks", "verbose", "n_jobs")

# -- fingerprint of a configuration and its data -------------------------------------------
def _plain(value):
    """A JSON value standing for a constructor parameter."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    kind = f"<{type(value).__module__}.{type(value).__qualname__}>"
    if callable(getattr(value, "get_params", None)):
        # A scikit-learn-style object (a node-feature embedding): its kind and parameters.
        params = value.get_params(deep=False)
        return {
            kind: {k: _plain(v) for k, v in sorted(params.items()) if k not in UNCHECKED_PARAMS}
        }
    # A RandomState instance or another object: only its kind can be compared.
    return kind


def _update_with_tensor(digest, tensor) -> None:
    array = np.ascontiguousarray(torch.as_tensor(tensor).detach().cpu().numpy())
    digest.update(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())


def inputs_digest(inputs) -> str:
    """sha256 of model inputs: a tensor of feature rows, or a list of graphs."""
    digest = hashlib.sha256()
    if isinstance(inputs, torch.Tensor):
        _update_with_tensor(digest, inputs)
        return digest.hexdigest()
    for graph in inputs:
        for key, value in sorted(graph.to_dict().items()):
            if key == ATOM_ENCODER_INPUT:
                # A potential's own graph of the crystal: the crystal is in the other keys,
                # and its repr is not guaranteed to be the same in every process.
                continue
            digest.update(key.encode())
            if isinstance(value, torch.Tensor):
                _update_with_tensor(digest, value)
            else:
                digest.update(repr(value).encode())
    return digest.hexdigest()


def array_digest(array) -> str:
    """sha256 of a float64 array's shape and values."""
    digest = hashlib.sha256()
    _update_with_tensor(digest, torch.as_tensor(np.asarray(array, dtype=np.float64)))
    return digest.hexdigest()


def fingerprint(estimator, data: dict) -> dict:
    """What a checkpoint belongs to: the estimator class, its parameters and ``data``.

    Parameters
    ----------
    estimator : DOSRegressorBase
    data : dict
        JSON values describing the training data (shapes and checksums).

    Returns
    -------
    dict
        JSON values; :data:`UNCHECKED_PARAMS` are left out.
    """
    params = estimator.get_params(deep=False)
    return {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": {
            key: _plain(value)
            for key, value in sorted(params.items())
            if key not in UNCHECKED_PARAMS
        },
        "data": data,
    }


def fingerprint_differences(stored: dict, current: dict) -> list[str]:
    """Names of what differs between two fingerprints."""
    differences = []
    if stored.get("estimator") != current["estimator"]:
        differences.append(f"the estimator ({stored.get('estimator')})")
    for section, label in (("params", "{}"), ("data", "data: {}")):
        old, new = stored.get(section) or {}, current[section]
        for key in sorted(set(old) | set(new)):
            if old.get(key, "<absent>") != new.get(key, "<absent>"):
                differences.append(label.format(key))
    return differences
