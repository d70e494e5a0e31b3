"""Runs of the scripts that store one JSON row per fit (phonon.py, ood.py, electron.py).

:func:`stored_rows` finds the fits already stored, :func:`run_seeds` runs the others
seed by seed (:func:`run_unstored_splits`) and prints their tables, and
:func:`write_results` writes the run's ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .fits import print_split_table, run_splits
from .rows import fit_record, read_stored, rows_folder, save_row, split_record


def make_folders(args, rows: str) -> tuple[Path, Path]:
    """``--out`` and the folder of the rows (:func:`rows_folder`), made where missing.

    Parameters
    ----------
    args : argparse.Namespace
        The command line.
    rows : str
        The script's default folder of rows (under ``docs/data``).

    Returns
    -------
    out, folder : Path
        Where ``results.json`` goes, and where the rows go.
    """
    out, folder = Path(args.out), rows_folder(args, rows)
    out.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    return out, folder


def stored_rows(args, folder: Path, path_of, complete=None) -> tuple[dict, int]:
    """The stored fits of ``args.seeds × args.splits × args.models``, and how many are left.

    Parameters
    ----------
    args : argparse.Namespace
        The command line.
    folder : Path
        Folder of the rows, named in the message.
    path_of : callable
        ``path_of(split, key, seed)``: the file of a fit's row.
    complete : callable, optional
        ``complete(split, key, row)``: whether a stored row holds all that this run asks
        of it; a row that does not is fitted again.

    Returns
    -------
    stored : dict
        {(seed, split, key): row}.
    todo : int
        How many fits are left to run (printed too).
    """
    stored = {}
    for seed in args.seeds:
        for split in args.splits:
            for key in args.models:
                row = read_stored(path_of(split, key, seed), args)
                if row is not None and (complete is None or complete(split, key, row)):
                    stored[(seed, split, key)] = row
    todo = len(args.seeds) * len(args.splits) * len(args.models) - len(stored)
    print(f"{todo} fits to run, {len(stored)} stored in {folder}", flush=True)
    return stored, todo


def run_unstored_splits(args, data, seed, stored, path_of, after_fit=None) -> dict:
    """:func:`run_splits` for one seed without the stored fits; {(split, key): row} of both.

    Each fitted row gets :func:`fit_record` and :func:`split_record`, then
    ``after_fit`` (as for :func:`run_splits`) adds to it, and it is saved to
    ``path_of(split, key, seed)``.

    Parameters
    ----------
    args : argparse.Namespace
        The command line.
    data : Bunch or None
        ``structures``, ``dos`` and ``material_ids`` of the data set; ``None`` when
        every fit is stored.
    seed : int
        Split and model seed.
    stored : dict
        As :func:`stored_rows` returns it.
    path_of : callable
        ``path_of(split, key, seed)``: the file of a fit's row.
    after_fit : callable, optional
        ``after_fit(split, key, model, data, y_pred, row, indices)``: the script's own
        measurements.

    Returns
    -------
    dict
        {(split, key): row} in the order of ``args.splits`` and ``args.models``.
    """

    def record(split, key, model, parts, y_pred, row, indices):
        row.update(**fit_record(args, seed), **split_record(indices, data.material_ids))
        if after_fit is not None:
            after_fit(split, key, model, parts, y_pred, row, indices)
        save_row(path_of(split, key, seed), row)

    fitted = {}
    if data is not None:
        fitted = run_splits(
            args,
            data.structures,
            data.dos,
            args.splits,
            seed,
            after_fit=record,
            skip=lambda split, key: (seed, split, key) in stored,
        )
    return {
        (split, key): stored.get((seed, split, key), fitted.get((split, key)))
        for split in args.splits
        for key in args.models
        if (seed, split, key) in stored or (split, key) in fitted
    }


def run_seeds(args, data, stored, path_of, after_fit=None, title="", note="", metrics=None):
    """Seed by seed, :func:`run_unstored_splits` and its table (:func:`print_split_table`).

    Parameters
    ----------
    args : argparse.Namespace
        The command line.
    data, stored, path_of, after_fit
        As for :func:`run_unstored_splits`.
    title : str
        What the tables are of, in their heading (``Phonon DOS``).
    note : str
        Said at the end of each heading (units).
    metrics : sequence of (str, str), optional
        The table's columns (default :data:`METRICS`).

    Yields
    ------
    dict
        {(split, key): row} of one seed, once its table is printed.
    """
    for seed in args.seeds:
        results = run_unstored_splits(args, data, seed, stored, path_of, after_fit)
        quick = " (quick)" if args.quick else ""
        print(f"\n{title}, seed {seed}{quick}, {args.device}{note}")
        print_split_table(results, args.models, metrics)
        yield results


def run_record(args) -> dict:
    """What ``results.json`` says of a run: its seeds, ``--quick``, device and torch threads.

    Parameters
    ----------
    args : argparse.Namespace
        The command line.

    Returns
    -------
    dict
        ``seeds``, ``quick``, ``device`` and ``threads``.
    """
    return {
        "seeds": args.seeds,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
    }


def write_results(args, out: Path, folder: Path, rows, **first) -> dict:
    """Write ``OUT/results.json`` of a run of several splits and say where it and the rows are.

    Parameters
    ----------
    args : argparse.Namespace
        The command line.
    out : Path
        ``--out``.
    folder : Path
        Folder of the rows.
    rows : list of dict
        The run's rows, stored and fitted.
    **first
        Fields of the script that come first (the data set).

    Returns
    -------
    dict
        What was written: ``first``, :func:`run_record`, ``rows`` (the folder) and
        ``results`` (the rows).
    """
    payload = {**first, **run_record(args), "rows": str(folder), "results": list(rows)}
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'results.json'}, rows in {folder}")
    return payload
