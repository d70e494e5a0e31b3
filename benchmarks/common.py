"""What the benchmark scripts share: the table's rows, their settings, fitting and timing.

Each row of the paper's tables is a key of :data:`MODELS`; :func:`build` makes
its estimator from the command line, :func:`run_row` fits and measures it.
Every fit is stored as one JSON file (:func:`save_row`, named by :func:`row_name`
or the script's own name), and each script's ``--report`` builds its Markdown
tables from those files alone and writes them between markers of a docs page
(:func:`write_docs_block`). The phonon, OOD and electron scripts keep only what is
their own: the name of a row (:func:`row_file_name`), what a fit measures beyond
:func:`run_row`, and their tables (:func:`model_table`); loading the rows, running
the fits that are not stored (:func:`run_seeds`) and ``--report``
(:func:`publish_report`) are done here.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dos_estimators import (
    DOSTransformerRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
    dos_report,
    tree_reference,
)
from dos_estimators.estimators import DOSRegressorBase
from dos_estimators.metrics import spread_error_correlation
from dos_estimators.model_selection import (
    CrystalSystemSplit,
    SpeciesCountSplit,
    train_valid_test_split,
)
from dos_estimators.structures import clear_crystal_system_cache
from dos_estimators.thermo import phonon_thermo

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


def throughput(model, structures, repeats=3):
    """Best structures per second over a few calls of ``predict``."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(structures)
        best = min(best, time.perf_counter() - start)
    return len(structures) / best


def run_row(key, model, split):
    """Fit one model on a split and measure it."""
    X_train, X_valid, X_test, y_train, y_valid, y_test = split
    start = time.perf_counter()
    if isinstance(model, DOSRegressorBase):
        model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    else:
        model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    ensemble = isinstance(model, DOSRegressorBase) and len(model.nets_) >= 2
    if ensemble:
        y_pred, y_std = model.predict(X_test, return_std=True)
    else:
        y_pred = model.predict(X_test)
    row = {"model": key, "test": dos_report(y_test, y_pred), "fit_seconds": fit_time}
    if ensemble:
        # How well the members' spread ranks the crystals' errors (Spearman's rho).
        row["spread_error_spearman"] = spread_error_correlation(y_test, y_pred, y_std)
    row["predict_structures_per_second"] = throughput(model, X_test)
    if isinstance(model, DOSRegressorBase):
        durations = [d for net in model.nets_ for d in net.history[:, "dur"]]
        history = model.net_.history
        row["seconds_per_epoch"] = float(np.mean(durations))
        row["epochs"] = model.n_epochs_
        row["best_epoch"] = int(
            next(
                (r["epoch"] for r in reversed(history) if r.get("valid_loss_best")),
                len(history),
            )
        )
        row["n_ensemble"] = len(model.nets_)
        row["params"] = {k: v for k, v in model.get_params().items() if k != "callbacks"}
    if isinstance(model, DOSTransformerRegressor):
        clear_crystal_system_cache()
        start = time.perf_counter()
        model.predict(X_test)
        row["predict_structures_per_second_with_symmetry"] = len(X_test) / (
            time.perf_counter() - start
        )
    return row, y_pred


# R² is per crystal, averaged over crystals, as the paper computes it; "R² pooled" is
# R² of the flattened arrays (see dos_estimators.metrics).
METRICS = (
    ("mse_x10", "MSE×10"),
    ("mae", "MAE"),
    ("r2_per_crystal", "R²"),
    ("r2_pooled", "R² pooled"),
)
PARTS = ("train", "valid", "test")
SPLITS = {
    "id": "ID (random 80/10/10)",
    "system": "OOD crystal system",
    "species": "OOD species count",
}


def add_common_arguments(
    parser: argparse.ArgumentParser, models, out: str, verbose: int = 0
) -> None:
    """The options every benchmark script takes."""
    parser.add_argument(
        "--models",
        nargs="+",
        default=models,
        choices=[*MODELS, "all"],
        help=f"rows to run (default: {' '.join(models)})",
    )
    parser.add_argument("--quick", action="store_true", help="small models, few epochs (CI)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--max-epochs", type=int, help="override the number of epochs")
    parser.add_argument("--data-home", help="folder holding the data files")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="processes for the crystal-system search (pays only with many cores)",
    )
    parser.add_argument("--out", default=out, help="output folder")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[MODEL:]NAME=VALUE",
        help="estimator parameter (repeatable), for one model or every model that has it, "
        "e.g. --param hidden=128 --param dostransformer:n_ensemble=3",
    )
    parser.add_argument("--verbose", type=int, default=verbose, help="estimator verbosity")


def add_seed_arguments(parser: argparse.ArgumentParser, splits: bool = True) -> None:
    """``--seeds`` and, for a script that fits several splits, ``--splits``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.
    splits : bool, default=True
        Whether the script fits the splits of :data:`SPLITS` (``--splits``, and
        ``--seed`` as a second name of ``--seeds``) rather than the ID split alone.
    """
    flags = ["--seeds"]
    if splits:
        parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
        flags.append("--seed")
    parser.add_argument(
        *flags,
        dest="seeds",
        nargs="+",
        type=int,
        default=[0],
        help="split and model seeds (mean ± std)",
    )


def finish_arguments(args):
    """Expand ``--models all`` and check ``--param`` model names."""
    if "all" in args.models:
        args.models = list(MODELS)
    args.params = parse_params(args.param)
    families = {key.removesuffix("_energy") for key in MODELS}
    unknown = set(args.params) - {None} - set(MODELS) - families
    if unknown:
        raise SystemExit(f"--param names unknown models {sorted(unknown)}; known: {list(MODELS)}")
    return args


def split_indices(name, structures, seed, n_jobs=None):
    """(train, valid, test) index arrays of a split named in :data:`SPLITS`.

    The held-out crystals of an OOD split are halved at random into validation
    (early stopping) and test, as in the DOSTransformer paper.
    """
    n = len(structures)
    if name == "id":
        train, valid, test, *_ = train_valid_test_split(
            np.arange(n), np.arange(n), random_state=seed
        )
        return train, valid, test
    splitter = CrystalSystemSplit(n_jobs=n_jobs) if name == "system" else SpeciesCountSplit()
    train, held_out = next(splitter.split(structures))
    held_out = np.random.default_rng(seed).permutation(held_out)
    half = len(held_out) // 2
    return train, held_out[:half], held_out[half:]


def split_data(structures, dos, indices):
    """``X_train, X_valid, X_test, y_train, y_valid, y_test`` for (train, valid, test) indices."""
    parts = [([structures[i] for i in index], dos[index]) for index in indices]
    return tuple(p[0] for p in parts) + tuple(p[1] for p in parts)


def run_splits(args, structures, dos, splits, seed, after_fit=None, skip=None):
    """Fit every model of ``args.models`` on each split; return {(split, model): row}.

    ``after_fit(split, key, model, data, y_pred, row, indices)`` runs after each
    fit, to add measurements to ``row`` (``data`` as returned by
    :func:`split_data`, ``indices`` the (train, valid, test) index arrays).
    A split whose sides would be empty is skipped with a message. A fit for which
    ``skip(split, key)`` is true (its row is stored already) is left out, and a
    split with no fit left is not even made.
    """
    results = {}
    for split in splits:
        keys = [key for key in args.models if skip is None or not skip(split, key)]
        if not keys:
            continue
        try:
            indices = split_indices(split, structures, seed, args.n_jobs)
        except ValueError as err:
            print(f"{SPLITS[split]}: skipped ({err})", flush=True)
            continue
        data = split_data(structures, dos, indices)
        sizes = ", ".join(f"{len(i)} {n}" for i, n in zip(indices, PARTS, strict=True))
        print(f"{SPLITS[split]}: {sizes}", flush=True)
        for key in keys:
            model = build(key, args, seed)
            row, y_pred = run_row(key, model, data)
            row["split"] = split
            if after_fit is not None:
                after_fit(split, key, model, data, y_pred, row, indices)
            results[(split, key)] = row
            measured = "  ".join(f"{name} {row['test'][m]:.3f}" for m, name in METRICS)
            print(f"  {MODELS[key][0]:18s} {measured}  (fit {row['fit_seconds']:.0f} s)")
    return results


def print_split_table(results, models, metrics=None):
    """One line per model, one block of metrics per split, as in the paper's Table 2."""
    metrics = metrics or METRICS
    splits = list(dict.fromkeys(split for split, _ in results))
    widths = [max(8, len(name) + 1) for _, name in metrics]
    width = sum(widths)
    print(f"{'':18s}" + "".join(f" │ {SPLITS[s]:^{width}s}" for s in splits))
    names = "".join(f"{name:>{w}s}" for (_, name), w in zip(metrics, widths, strict=True))
    print(f"{'model':18s}" + f" │ {names}" * len(splits))
    for key in models:
        cells = []
        for split in splits:
            row = results.get((split, key), {})
            # Metrics from the test report, or measurements of the row (seconds_per_epoch).
            test = {**row, **row.get("test", {})}
            test = {m: v for m, v in test.items() if isinstance(v, float)}
            cells.append(
                " │ "
                + "".join(
                    f"{test[m]:{w}.3f}" if m in test else f"{'—':>{w}s}"
                    for (m, _), w in zip(metrics, widths, strict=True)
                )
            )
        print(f"{MODELS[key][0]:18s}" + "".join(cells))


# -- resumable result stores: one JSON file per fit, tables generated from them -----------
# Parameters that do not change what is learned, left out of a fit's settings.
NOT_SETTINGS = ("callbacks", "device", "verbose", "n_jobs", "checkpoint_dir")


# Parameters added after rows were stored, with the default that computes what the
# model computed before they existed: left out at that default, so that older rows
# keep their file names.
LATER_PARAMETERS = {"crystal_features": None}


def model_settings(model) -> dict:
    """The parameters of ``model`` that decide what it learns."""
    return {
        k: v
        for k, v in model.get_params().items()
        if k not in NOT_SETTINGS and not (k in LATER_PARAMETERS and v is LATER_PARAMETERS[k])
    }


def settings_hash(settings: dict) -> str:
    """Short hash of a fit's settings, for its file name: new settings, new file."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def save_row(path: Path, row: dict) -> None:
    """Write one fit's JSON whole or not at all (a killed run leaves no truncated row)."""
    partial = path.with_suffix(f".{os.getpid()}.partial")  # one per writer: no two share it
    partial.write_text(json.dumps(row, indent=1, default=str))
    partial.replace(path)


def mean_std_cell(values, digits=3, unit="") -> str:
    """``mean ± std`` (population) of a table cell, ``(1 seed)`` for one value, ``—`` for none."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit} (1 seed)"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}{unit}"


def write_docs_block(text: str, docs: Path, name: str, script: str) -> None:
    """Put ``text`` between the ``<!-- {name}:begin/end -->`` markers of ``docs``.

    The markers are appended to the page when absent; what lies between them is
    replaced whole.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    page = docs.read_text() if docs.exists() else ""
    note = f"<!-- generated by {script} --report; do not edit -->"
    block = f"{begin}\n{note}\n\n{text}\n{end}"
    if begin in page and end in page:
        page = page[: page.index(begin)] + block + page[page.index(end) + len(end) :]
    else:
        page = page.rstrip() + "\n\n" + block + "\n"
    docs.write_text(page)


# -- scripts that measure in child processes and keep one JSON file (sharing, speed, scale) --
def add_json_report_arguments(parser: argparse.ArgumentParser, name: str, docs: str) -> None:
    """``--data-home``, ``--out``, ``--report`` and ``--docs`` of a script with one JSON file.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    name : str
        The script's name: its JSON file is ``docs/data/NAME.json``, its block ``NAME``.
    docs : str
        The page its ``--report`` writes into.
    """
    parser.add_argument(
        "--data-home", help="folder holding the data files (default: $DOS_ESTIMATORS_DATA)"
    )
    parser.add_argument("--out", default=f"docs/data/{name}.json", help="the JSON file")
    parser.add_argument("--report", action="store_true", help="only rebuild the docs table")
    parser.add_argument("--docs", default=docs, help="the page the table goes into")


def run_json_child(command: list[str], what: str, env: dict | None = None) -> dict:
    """Run a measuring process to its end and return the last JSON line it printed.

    Parameters
    ----------
    command : list of str
    what : str
        What it measures, for the message when it fails.
    env : dict, optional
        Its environment (default: this process's).

    Raises
    ------
    SystemExit
        If it fails or prints no JSON line (its standard error is shown first).
    """
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{what}: the measuring process failed (exit {done.returncode})")
    return json.loads(lines[-1])


def machine_record(script: str, argv=None) -> dict:
    """Where, when and how a measurement was taken.

    Parameters
    ----------
    script : str
        ``benchmarks/NAME.py``.
    argv : list of str, optional
        The script's arguments (default: this process's command line).

    Returns
    -------
    dict
        ``platform``, ``cores``, ``date`` (UTC), ``command`` and ``load_average`` (the
        1-minute load when the measurement started: near 0 on an idle machine).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    return {
        "platform": platform.platform(),
        "cores": len(os.sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": shlex.join(["python", script, *arguments]),
        "load_average": os.getloadavg()[0],
    }


def save_and_report(result: dict | None, out: Path, table, args, script: str) -> str:
    """Write a new ``result`` to ``out``; print the table of what ``out`` holds.

    With ``--report`` (``args.report``) the table also goes into the ``--docs`` page
    (``args.docs``), in the block named after ``script`` (``benchmarks/NAME.py``).

    Parameters
    ----------
    result : dict or None
        A new measurement, or None to report the stored one.
    out : pathlib.Path
        The script's JSON file.
    table : callable
        ``table(result)``: the Markdown text.
    args : argparse.Namespace
    script : str

    Returns
    -------
    str
        The text.
    """
    if result is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    text = table(json.loads(out.read_text()))
    print(text)
    if args.report:
        write_docs_block(text, Path(args.docs), Path(script).stem, script)
        print(f"wrote {args.docs}")
    return text


# -- the rows of the Table 1-3 and electron scripts (phonon.py, ood.py, electron.py) -------
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


def add_row_arguments(parser: argparse.ArgumentParser, rows: str, docs: str) -> None:
    """``--rows``, ``--report`` and ``--docs``: where the rows lie and which page gets the table."""
    parser.add_argument(
        "--rows",
        help=f"folder of the rows, one JSON file per fit (default: {rows}; with --quick: "
        "OUT/rows, never the docs' data)",
    )
    parser.add_argument(
        "--report", action="store_true", help="fit nothing: rebuild the table from the rows"
    )
    parser.add_argument("--docs", default=docs, help="page the table goes into with --report")


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


def read_stored(path: Path, args) -> dict | None:
    """The row stored in ``path``, or ``None`` where the fit is to be done.

    A ``--quick`` run always fits (a smoke run that skipped its fits would test
    nothing); otherwise a fit whose file exists is not done again.
    """
    if args.quick or not path.exists():
        return None
    return json.loads(path.read_text())


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


def group_rows(rows, *fields) -> dict[tuple, list[dict]]:
    """{(row[field], ..., model, variant): rows by seed}, models in the order of :data:`MODELS`."""
    order = list(MODELS)
    groups = {}
    for row in rows:
        key = (*(row[f] for f in fields), row["model"], variant_label(row))
        groups.setdefault(key, []).append(row)
    ranked = sorted(groups, key=lambda k: (*k[:-2], order.index(k[-2]), k[-1]))
    return {k: sorted(groups[k], key=lambda r: r["seed"]) for k in ranked}


def row_label(model: str, variant: str) -> str:
    """A table row's name: the model's label, and its variant in brackets."""
    return MODELS[model][0] + (f" ({variant})" if variant else "")


def seeds_cell(group) -> str:
    """The seeds of a group of rows, ``0, 1, 2``."""
    return ", ".join(str(r["seed"]) for r in group)


REPORT_METRICS = ("mse_x10", "mae", "r2_per_crystal", "r2_pooled")


def metric_cells(group, metrics=REPORT_METRICS) -> list[str]:
    """``mean ± std`` over a group's rows of each test metric."""
    return [mean_std_cell([r["test"][m] for r in group]) for m in metrics]


def training_cells(group) -> list[str]:
    """Mean epochs and seconds per epoch of a group; for the trees ``— (fit N s)`` and ``—``."""
    if "epochs" not in group[0]:
        return [f"— (fit {np.mean([r['fit_seconds'] for r in group]):.0f} s)", "—"]
    epochs = np.mean([r["epochs"] for r in group])
    return [f"{epochs:.0f}", f"{np.mean([r['seconds_per_epoch'] for r in group]):.2f}"]


# The columns of every model table before its script's own metrics.
MODEL_COLUMNS = ("model", "seeds", "MSE×10", "MAE", "R² per crystal", "R² pooled")


def model_table(title: str, groups, metrics=(), after=None) -> list[str]:
    """The lines of a Markdown table of models: ``title``, the head, a line per group, a blank.

    The columns are :data:`MODEL_COLUMNS` (mean ± std of :data:`REPORT_METRICS`),
    ``metrics``, epochs and seconds per epoch (:func:`training_cells`), then ``after``.

    Parameters
    ----------
    title : str
        The line above the table.
    groups : dict
        {(..., model, variant): rows}, as :func:`group_rows` returns them, one line each.
    metrics : sequence of (str, str), default=()
        More test metrics, ``(key, column label)``, after the four of every table.
    after : dict, optional
        {column label: function of a group's rows that gives its cell}, the last columns.

    Returns
    -------
    list of str
        The lines, the last one empty.
    """
    after = after or {}
    columns = [*MODEL_COLUMNS, *(label for _, label in metrics), "epochs", "s/epoch", *after]
    lines = [title, "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    measured = (*REPORT_METRICS, *(key for key, _ in metrics))
    for (*_, key, variant), group in groups.items():
        cells = [row_label(key, variant), seeds_cell(group), *metric_cells(group, measured)]
        cells += [*training_cells(group), *(cell(group) for cell in after.values())]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def split_sizes(rows) -> str:
    """``1,216 train, 152 validation, 153 test crystals`` (each size that occurs)."""
    sizes = sorted({(r["n_train"], r["n_valid"], r["n_test"]) for r in rows})
    return "; ".join(f"{a:,} train, {b:,} validation, {c:,} test crystals" for a, b, c in sizes)


def hardware_note(rows) -> str:
    """``Fitted on cuda, 1 torch thread.``: each device and thread count of the rows."""
    combos = sorted({(r["device"], r["threads"]) for r in rows})
    return (
        "Fitted on "
        + "; ".join(f"{d}, {t} torch thread{'' if t == 1 else 's'}" for d, t in combos)
        + "."
    )


def no_rows_text(folder, fit: str, script: str) -> str:
    """What a report says where no row exists yet: no numbers, and how to make them.

    ``fit`` is the command that fits the rows, ``script`` the one whose ``--report``
    writes the table.
    """
    return (
        f"**No rows yet.** `{folder}` holds no fit for this table, so it shows no numbers. "
        f"Fit them with `python {fit}`, then rebuild it with `python {script} --report`.\n"
    )


def publish(text: str, docs, name: str, script: str) -> None:
    """Print a report and, where ``docs`` names a page, write it into that page's block."""
    print(text)
    if docs:
        write_docs_block(text, Path(docs), name, script)
        print(f"wrote the {name} block into {docs}")


def publish_report(args, script: str, rows: str, fit: str, load, tables) -> str:
    """``--report``: the tables of the stored rows, printed and written into ``--docs``.

    Parameters
    ----------
    args : argparse.Namespace
        The command line (``--rows``, ``--quick``, ``--out``, ``--docs``).
    script : str
        The script, ``benchmarks/NAME.py``: NAME names the block of the page.
    rows : str
        The script's default folder of rows (under ``docs/data``).
    fit : str
        The options of the command that fits the rows, suggested where there are none.
    load : callable
        ``load(folder)``: the rows of ``folder`` that match today's settings.
    tables : callable
        ``tables(rows)``: the Markdown text of one row or more.

    Returns
    -------
    str
        The text, or a sentence saying that no rows exist yet (:func:`no_rows_text`).
    """
    folder = rows_folder(args, rows)
    found = load(folder)
    text = tables(found) if found else no_rows_text(folder, f"{script} {fit}", script)
    publish(text, args.docs, Path(script).stem, script)
    return text


# -- thermodynamics of the test crystals: stored in the phonon rows, read by thermo.py ------
THERMO_TEMPERATURE = 300.0
THERMO_QUANTITIES = (("cv", "C_V", "J/(mol·K)"), ("entropy", "S", "J/(mol·K)"))


def thermo_of(dos, frequencies, structures, temperature) -> dict:
    """C_V and S per mole of atoms at ``temperature`` of each DOS row.

    Negative values are clipped to 0 first. A row that is zero everywhere cannot be
    normalised to 3N modes: its values are NaN.
    """
    dos = np.clip(np.asarray(dos, dtype=float), 0, None)
    n_atoms = np.array([len(s) for s in structures])
    values = {key: np.full(len(dos), np.nan) for key, _, _ in THERMO_QUANTITIES}
    valid = np.any(dos > 0, axis=1)
    if valid.any():
        found = phonon_thermo(dos[valid], frequencies, n_atoms[valid], temperature, per_atom=True)
        for key in values:
            values[key][valid] = found[key]
    return values


def thermo_record(y_true, y_pred, frequencies, structures, temperature=THERMO_TEMPERATURE):
    """Per test crystal, C_V and S from the true and the predicted DOS, as lists for JSON.

    Returns ``{"temperature", "per_atom": True, "cv": {"true", "predicted"},
    "entropy": {...}}``, each list one float per crystal, ``None`` where a DOS is zero
    everywhere.
    """
    true = thermo_of(y_true, frequencies, structures, temperature)
    predicted = thermo_of(y_pred, frequencies, structures, temperature)

    def floats(values):
        return [None if np.isnan(v) else float(v) for v in values]

    record = {"temperature": float(temperature), "per_atom": True}
    for key, _, _ in THERMO_QUANTITIES:
        record[key] = {"true": floats(true[key]), "predicted": floats(predicted[key])}
    return record
