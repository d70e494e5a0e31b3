"""Fitting and measuring: the splits, :func:`run_row` for one model, :func:`run_splits` for many.

:func:`run_row` fits one estimator of :func:`bench.models.build` on a split and
measures it; :func:`run_splits` does so for every model of ``--models`` on each split
of :data:`SPLITS` and prints each fit's test metrics, :func:`print_split_table` their
table.
"""

from __future__ import annotations

import time

import numpy as np

from dos_estimators import DOSTransformerRegressor, dos_report
from dos_estimators.estimators import DOSRegressorBase
from dos_estimators.metrics import spread_error_correlation
from dos_estimators.model_selection import (
    CrystalSystemSplit,
    FormulaGroupSplit,
    SpeciesCountSplit,
    train_valid_test_split,
)
from dos_estimators.structures import clear_crystal_system_cache

from .models import MODELS, build

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
# Splits some benchmarks add to those of SPLITS (the OOD tables keep the paper's two).
ALL_SPLITS = {**SPLITS, "formula": "formula-grouped (10 % of formulas held out)"}


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


def split_indices(name, structures, seed, n_jobs=None):
    """(train, valid, test) index arrays of a split named in :data:`ALL_SPLITS`.

    The held-out crystals of an OOD split are halved at random into validation
    (early stopping) and test, as in the DOSTransformer paper. ``formula`` holds out
    10 % of the reduced formulas for test and 1/9 of the others for validation, so that
    no polymorph is on two sides.
    """
    n = len(structures)
    if name == "id":
        train, valid, test, *_ = train_valid_test_split(
            np.arange(n), np.arange(n), random_state=seed
        )
        return train, valid, test
    if name == "formula":
        rest, test = next(FormulaGroupSplit(test_size=0.1, random_state=seed).split(structures))
        train, valid = next(
            FormulaGroupSplit(test_size=1 / 9, random_state=seed).split(
                [structures[i] for i in rest]
            )
        )
        return rest[train], rest[valid], test
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
