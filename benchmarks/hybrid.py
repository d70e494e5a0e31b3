"""The hybrid: DOSTransformer with a universal potential's phonon DOS as its prior.

Two protocols, each fitting, on the same crystals, the zero-shot potential
(``PotentialPhononRegressor``), ``DOSTransformerRegressor()`` (its defaults), the hybrid
``DOSTransformerRegressor(prior=PotentialPhonons(potential, cache=<priors file>))``, the
tree reference, and the fixed 60/40 average of the potential's and the network's DOS:

- ``--protocol id``: the seeded 80/10/10 splits of the phonon set (the paper's); needs
  the priors of every crystal of the split (``benchmarks/priors.py``). ``system``,
  ``species`` and ``formula`` are the OOD splits of ``bench.fits.ALL_SPLITS`` (held-out
  crystals halved into validation and test; 10 % of the formulas held out), the same way.
- ``--protocol cv``: while the priors file is still filling, a seeded 5-fold cross
  validation over the crystals it holds (a tenth of the validation-free training data
  per fold goes to early stopping). A small-data check of the mechanism, not the
  paper's protocol: compare its rows with each other only.

Rows go to ``docs/data/hybrid.json``; ``--report`` writes the ``hybrid`` block of
``docs/phonons.md``.

    python benchmarks/hybrid.py --protocol cv --seeds 0
    python benchmarks/hybrid.py --protocol id --seeds 0 1 2 --n-ensemble 1
    python benchmarks/hybrid.py --protocol system --seeds 0 1 2 --rows hybrid
    python benchmarks/hybrid.py --protocol cv --n-ensemble 5 --rows zero_shot hybrid trees
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench.fits import ALL_SPLITS, split_indices
from bench.measure import machine_record
from bench.reports import mean_std_cell, write_docs_block
from priors import covered, priors_path
from sklearn.model_selection import KFold
from zero_shot import BLEND, scores

from dos_estimators import DOSTransformerRegressor, PotentialPhononRegressor, tree_reference
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.phonons import PotentialPhonons

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "data" / "hybrid.json"
DOCS = HERE.parent / "docs" / "phonons.md"
ROWS = ("zero_shot", "network", "hybrid", "hybrid_add", "hybrid_stretch", "trees", "blend")
LABELS = {
    "zero_shot": "zero-shot potential",
    "network": "DOSTransformer (defaults)",
    "hybrid": 'hybrid, prior_readout="masked"',
    "hybrid_add": 'hybrid, prior_readout="add"',
    "hybrid_stretch": 'hybrid, "stretch": DOSTransformer(prior=)',
    "trees": "trees",
    "blend": "60/40 potential + network",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=["cv", *ALL_SPLITS], default="cv")
    parser.add_argument("--potential", default="7net-l3i5")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-ensemble", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--docs", default=str(DOCS))
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=[name for name in ROWS if name != "blend"],
        default=[name for name in ROWS if name != "blend"],
        help="the rows to fit (the blend comes with zero_shot and network)",
    )
    parser.add_argument("--report", action="store_true")
    return parser.parse_args(argv)


def folds(args, data, seed, has):
    """(train, valid, test) index triples of the protocol for ``seed``."""
    if args.protocol != "cv":
        train, valid, test = split_indices(args.protocol, data.structures, seed)
        missing = int((~has[np.concatenate([train, valid, test])]).sum())
        if missing:
            raise SystemExit(
                f"seed {seed}: {missing} crystals of the split have no prior yet; run "
                "benchmarks/priors.py first (or --protocol cv)."
            )
        return [(train, valid, test)]
    held = np.flatnonzero(has)
    out = []
    for rest, test in KFold(5, shuffle=True, random_state=seed).split(held):
        rest = np.random.default_rng(seed).permutation(held[rest])
        n_valid = max(1, len(rest) // 9)
        out.append((rest[n_valid:], rest[:n_valid], held[test]))
    return out


def fit_fold(args, data, seed, fold, train, valid, test) -> dict:
    X = data.structures
    pick = lambda index: ([X[i] for i in index], data.dos[index])  # noqa: E731
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = pick(train), pick(valid), pick(test)
    grid = data.energies
    path = str(priors_path(args.potential))
    common = dict(random_state=seed, n_ensemble=args.n_ensemble, max_epochs=args.max_epochs)
    predictions, seconds = {}, {}

    def run(name, model, training=(X_tr, y_tr), **fit):
        if name not in args.rows:
            return
        start = time.perf_counter()
        model.fit(*training, **fit)
        seconds[name] = time.perf_counter() - start
        predictions[name] = model.predict(X_te)

    run(
        "zero_shot",
        PotentialPhononRegressor(args.potential, cache=path, random_state=seed),
        energies=grid,
    )
    run("network", DOSTransformerRegressor(**common), X_valid=X_va, y_valid=y_va, energies=grid)
    prior = PotentialPhonons(args.potential, cache=path, sigma="fit", scale="fit")
    readouts = {"hybrid": "masked", "hybrid_add": "add", "hybrid_stretch": "stretch"}
    for name, readout in readouts.items():
        run(
            name,
            DOSTransformerRegressor(prior=prior, prior_readout=readout, **common),
            X_valid=X_va,
            y_valid=y_va,
            energies=grid,
        )
    # The trees see the validation crystals too: they need no early stopping.
    run("trees", tree_reference(random_state=seed), (X_tr + X_va, np.concatenate([y_tr, y_va])))
    if "zero_shot" in predictions and "network" in predictions:
        predictions["blend"] = (
            BLEND * predictions["zero_shot"] + (1 - BLEND) * predictions["network"]
        )
    row = {name: scores(y_te, predictions[name], X_te, grid) for name in predictions}
    return {
        "protocol": args.protocol,
        "potential": args.potential,
        "seed": seed,
        "fold": fold,
        "n_train": len(train),
        "n_valid": len(valid),
        "n_test": len(test),
        "n_ensemble": args.n_ensemble,
        "max_epochs": args.max_epochs,
        "fit_seconds": seconds,
        **row,
        "machine": machine_record("benchmarks/hybrid.py"),
    }


def group_key(row) -> tuple:
    """The rows of one table: protocol, potential, networks per row and crystals used (a
    cross validation over a grown priors file is another table)."""
    held = row["n_train"] + row["n_valid"] + row["n_test"]
    return row["protocol"], row["potential"], row["n_ensemble"], held


def row_key(row) -> tuple:
    """What a new row replaces: the row of the same table, seed and fold."""
    return *group_key(row), row["seed"], row["fold"]


def report(rows) -> str:
    if not rows:
        return "No rows yet: run `python benchmarks/hybrid.py`."
    lines = []
    for key in dict.fromkeys(group_key(r) for r in rows):
        group = [r for r in rows if group_key(r) == key]
        protocol, potential, n_ensemble, held = key
        where = (
            f"5-fold cross validation over the {held} crystals "
            "the priors file held (seed " + ", ".join(sorted({str(r["seed"]) for r in group})) + ")"
            if protocol == "cv"
            else f"{ALL_SPLITS[protocol]}, test parts of seeds "
            + ", ".join(str(r["seed"]) for r in group)
        )
        lines += [
            f"**{potential}, {n_ensemble} network(s) per row, {where}**; mean ± std over "
            f"{len(group)} test parts:",
            "",
            "| row | MSE×10 | MAE | R² (per crystal) | C_V MAE 300 K | fit s |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name in (name for name in ROWS if all(name in r for r in group)):
            cells = [
                mean_std_cell([r[name][m] for r in group])
                for m in ("mse_x10", "mae", "r2_per_crystal", "cv_mae")
            ]
            fit = [r["fit_seconds"][name] for r in group if name in r["fit_seconds"]]
            lines.append(
                f"| {LABELS[name]} | " + " | ".join(cells) + f" | {np.mean(fit):.0f} |"
                if fit
                else f"| {LABELS[name]} | " + " | ".join(cells) + " | — |"
            )
        runs = dict.fromkeys((r["machine"]["date"], r["machine"]["command"]) for r in group)
        lines += [
            "",
            "Measured " + "; ".join(f"{date}: `{command}`" for date, command in runs) + ".",
            "",
        ]
    return "\n".join(lines).rstrip()


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    if not args.report:
        data = load_phonon_dos(data_home=args.data_home)
        has = covered(data.structures, args.potential)
        for seed in args.seeds:
            for fold, (train, valid, test) in enumerate(folds(args, data, seed, has)):
                row = fit_fold(args, data, seed, fold, train, valid, test)
                rows = [r for r in rows if row_key(r) != row_key(row)]
                rows.append(row)
                print(
                    f"seed {seed} fold {fold}: "
                    + ", ".join(f"{n} {row[n]['mse_x10']:.3f}" for n in ROWS if n in row),
                    flush=True,
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(rows, indent=1) + "\n")
    text = report(rows)
    write_docs_block(text, Path(args.docs), "hybrid", "benchmarks/hybrid.py")
    print(text)


if __name__ == "__main__":
    main()
