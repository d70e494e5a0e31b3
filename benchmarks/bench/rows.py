"""Resumable result stores: one JSON file per fit, tables generated from them.

A fit's row is stored whole (:func:`save_row`) under a name that changes whenever
what the fit computes does (:func:`row_name`, :func:`row_file_name`: a hash of its
settings); a row keeps enough of its command (:func:`fit_record`) to rebuild its
estimator (:func:`command_args`), so that ``--report`` loads only the rows that
today's settings would write (:func:`load_fit_rows`). Used by the Table 1-3 and
electron scripts (phonon.py, ood.py, electron.py), and for settings hashes by
ablation.py and embeddings.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from pathlib import Path

import torch

from dos_estimators.estimators import DOSRegressorBase

from .fits import SPLITS
from .models import MODELS, build, parse_params

# Parameters that do not change what is learned, left out of a fit's settings.
NOT_SETTINGS = ("callbacks", "device", "verbose", "n_jobs", "checkpoint_dir")


# Parameters added after rows were stored, with the default that computes what the
# model computed before they existed: left out at that default, so that older rows
# keep their file names (prior_readout changes nothing without a prior, as they had).
LATER_PARAMETERS = {"crystal_features": None, "prior": None, "prior_readout": "masked"}


def model_settings(model) -> dict:
    """The parameters of ``model`` that decide what it learns."""
    return {
        k: v
        for k, v in model.get_params().items()
        if k not in NOT_SETTINGS and not (k in LATER_PARAMETERS and _same(v, LATER_PARAMETERS[k]))
    }


def _same(value, default) -> bool:
    # Identity for objects (a transformer is not compared by ==), equality for names.
    return value is default or (isinstance(default, str) and value == default)


def settings_hash(settings: dict) -> str:
    """Short hash of a fit's settings, for its file name: new settings, new file."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def save_row(path: Path, row: dict) -> None:
    """Write one fit's JSON whole or not at all (a killed run leaves no truncated row)."""
    partial = path.with_suffix(f".{os.getpid()}.partial")  # one per writer: no two share it
    partial.write_text(json.dumps(row, indent=1, default=str))
    partial.replace(path)


def _plain(value) -> bool:
    """Whether ``value`` is JSON text as it is (no object whose text holds a memory address)."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def fit_settings(model) -> dict:
    """:func:`model_settings` of a network; of the tree reference, its plain-valued parameters.

    The tree reference is a scikit-learn pipeline whose nested parameters include its
    steps as objects, and their text holds memory addresses: it would give a new hash
    on every call. Its plain parameters (``trees__n_estimators``, ``trees__random_state``
    and the like) are what decide what it learns; nested ``n_jobs`` and ``verbose`` are
    left out as at the top level.
    """
    settings = model_settings(model)
    if isinstance(model, DOSRegressorBase):
        return settings
    return {
        k: v for k, v in settings.items() if k.rpartition("__")[2] not in NOT_SETTINGS and _plain(v)
    }


def row_name(parts, model, **context) -> str:
    """File name of one fit's row: ``parts`` joined by ``__``, then a hash of its settings.

    The hash covers :func:`fit_settings` of ``model`` and ``context`` (the script's
    ``revision``, a data set), so the name changes whenever what the fit computes does.
    """
    settings = {**context, "params": fit_settings(model)}
    return "__".join([*(str(part) for part in parts), settings_hash(settings)]) + ".json"


def row_file_name(args, where, key: str, seed: int, **context) -> str:
    """File name of one fit's row (:func:`row_name`); it changes whenever the fit's settings do.

    Parameters
    ----------
    args : argparse.Namespace
        The command line, or :func:`command_args` of a stored row.
    where : sequence of str
        What the fit is of, named before its model: a data set, a split; may be empty.
    key : str
        Row of :data:`MODELS`.
    seed : int
        Split and model seed.
    **context
        Hashed with the settings: the script's ``revision``, a data set.

    Returns
    -------
    str
        ``WHERE__KEY__seedSEED__HASH.json``.
    """
    return row_name([*where, key, f"seed{seed}"], build(key, args, seed), **context)


def rows_folder(args, default: str) -> Path:
    """``--rows``, else ``OUT/rows`` for a ``--quick`` run, else ``default`` (under docs/data)."""
    if args.rows:
        return Path(args.rows)
    if args.quick:
        return Path(args.out) / "rows"
    return Path(default)


def fit_record(args, seed: int) -> dict:
    """What a row stores of its command and machine: enough to rebuild its estimator."""
    return {
        "seed": seed,
        "quick": bool(args.quick),
        "max_epochs": args.max_epochs,
        "param": list(args.param),
        "device": args.device,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def command_args(row: dict) -> argparse.Namespace:
    """The options of :func:`build` that a row was fitted with (see :func:`fit_record`)."""
    return argparse.Namespace(
        quick=row["quick"],
        max_epochs=row["max_epochs"],
        params=parse_params(row["param"]),
        device="cpu",
        verbose=0,
    )


def split_record(indices, material_ids) -> dict:
    """Sizes of a split's parts and its test crystals (indices into the data set, and ids)."""
    train, valid, test = indices
    return {
        "n_train": len(train),
        "n_valid": len(valid),
        "n_test": len(test),
        "test_indices": [int(i) for i in test],
        "test_material_ids": [material_ids[i] for i in test],
    }


def read_stored(path: Path, args) -> dict | None:
    """The row stored in ``path``, or ``None`` where the fit is to be done.

    A ``--quick`` run always fits (a smoke run that skipped its fits would test
    nothing); otherwise a fit whose file exists is not done again.
    """
    if args.quick or not path.exists():
        return None
    return json.loads(path.read_text())


def variant_label(row: dict) -> str:
    """``""`` for a row fitted with the defaults; else ``quick`` and the settings it changed."""
    plain = argparse.Namespace(
        quick=row["quick"], max_epochs=None, params={}, device="cpu", verbose=0
    )
    base = fit_settings(build(row["model"], plain, row["seed"]))
    mine = fit_settings(build(row["model"], command_args(row), row["seed"]))
    changed = [f"{k.rpartition('__')[2]}={v}" for k, v in mine.items() if base.get(k) != v]
    return ", ".join((["quick"] if row["quick"] else []) + changed)


def load_row_files(folder, name_of) -> list[dict]:
    """The rows of ``folder`` whose file name is ``name_of(row)``: today's settings.

    ``name_of`` returns the name the row's fit would get today (``None`` for a row
    it does not know); the other files are left out with a message.
    """
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        row = json.loads(path.read_text())
        if name_of(row) == path.name:
            rows.append(row)
        else:
            print(f"left out {path.name}: fitted with other settings than today's")
    return rows


def load_fit_rows(folder, row_file, where=("split",)) -> list[dict]:
    """The rows of ``folder`` whose file names match today's settings (:func:`load_row_files`).

    Parameters
    ----------
    folder : str or Path
        Folder of the JSON rows, one file per fit.
    row_file : callable
        ``row_file(args, *values, key, seed)``: the file name the fit of a row gets
        today, from :func:`command_args` of the row and its values of ``where``.
    where : sequence of str, default=("split",)
        The fields of a row that ``row_file`` takes before its model and seed. A row
        whose model is not in :data:`MODELS`, or whose split (where ``where`` has one)
        is not in :data:`SPLITS`, is left out.

    Returns
    -------
    list of dict
        One row per fit.
    """

    def name_of(row):
        if row.get("model") not in MODELS:
            return None
        if "split" in where and row.get("split") not in SPLITS:
            return None
        values = [row[field] for field in where]
        return row_file(command_args(row), *values, row["model"], row["seed"])

    return load_row_files(folder, name_of)
