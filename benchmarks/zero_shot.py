"""Zero-shot phonon DOS of universal potentials against the trees, on the test tenths.

For each potential with a priors file (``benchmarks/priors.py``) and each seed, the
test tenth of the seeded 80/10/10 split is scored on the crystals that every listed
potential's file holds (so the potentials' rows compare like with like), the
tree reference (fitted on the training and validation parts) on the same crystals, and
their 60/40 average. ``PotentialPhononRegressor.fit`` chooses the smearing and scale on
up to 64 training crystals of the file; nothing else is learned. ``--splits`` adds the
OOD splits of ``bench.fits.ALL_SPLITS`` (crystal system, species count, formula-grouped),
scored the same way on their test parts. Each row records
MSE×10, MAE and per-crystal R² (the paper's convention), the imaginary-mode share, the
seconds per crystal the file records, and C_V and S at 300 K against the true DOS's.

    python benchmarks/zero_shot.py --potentials 7net-l3i5 --seeds 0 1 2
    python benchmarks/zero_shot.py --splits system species formula
    python benchmarks/zero_shot.py --report     # the docs/phonons.md block from the JSON
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from bench.fits import ALL_SPLITS, split_indices
from bench.measure import machine_record
from bench.reports import mean_std_cell, write_docs_block
from bench.thermo_rows import thermo_of
from priors import covered, priors_path

from dos_estimators import PotentialPhononRegressor, tree_reference
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.metrics import dos_report
from dos_estimators.pretrained import zero_shot as zero_shot_model

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "data" / "zero_shot.json"
DOCS = HERE.parent / "docs" / "phonons.md"
BLEND = 0.6  # the potential's share of the reference average
TEMPERATURE = 300.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--potentials", nargs="+", default=["7net-l3i5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--splits", nargs="+", default=["id"], choices=list(ALL_SPLITS))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--docs", default=str(DOCS))
    parser.add_argument("--report", action="store_true", help="only rebuild the docs block")
    return parser.parse_args(argv)


def scores(y_true, y_pred, structures, frequencies) -> dict:
    """The paper's metrics and the C_V / S errors at 300 K of one prediction."""
    row = {k: float(v) for k, v in dos_report(y_true, y_pred).items()}
    true = thermo_of(y_true, frequencies, structures, TEMPERATURE)
    predicted = thermo_of(y_pred, frequencies, structures, TEMPERATURE)
    for key in ("cv", "entropy"):
        row[f"{key}_mae"] = float(np.nanmean(np.abs(true[key] - predicted[key])))
    return row


def seed_row(data, potential: str, seed: int, only=None, split: str = "id") -> dict:
    """One potential's row on the test part of ``split`` for ``seed``.

    ``only`` narrows the scored crystals (and those the smearing is chosen on).
    """
    train, valid, test = split_indices(split, data.structures, seed)
    path = priors_path(potential)
    has = covered(data.structures, potential)
    if only is not None:
        has &= only
    fit_on = np.concatenate([train, valid])
    done, fit_done = test[has[test]], fit_on[has[fit_on]]
    X = data.structures
    if len(fit_done):
        model = PotentialPhononRegressor(potential, cache=path, n_fit_samples=64, random_state=seed)
        model.fit([X[i] for i in fit_done], data.dos[fit_done], energies=data.energies)
    else:  # no training crystal has its prior yet: the command line's fixed settings
        model = zero_shot_model(potential, cache=path)
    X_test, y_test = [X[i] for i in done], data.dos[done]
    zero_shot = model.predict(X_test)
    trees = tree_reference(random_state=seed).fit([X[i] for i in fit_on], data.dos[fit_on])
    tree_pred = trees.predict(X_test)
    modes = model.phonons_.modes(X_test)
    frequencies = data.energies
    return {
        "potential": potential,
        "split": split,
        "seed": seed,
        "n_test": int(len(test)),
        "n_scored": int(len(done)),
        "n_fit": int(min(64, len(fit_done))),  # 0: pretrained.ZERO_SHOT's settings
        "sigma": model.sigma_,
        "scale": model.scale_,
        "zero_shot": scores(y_test, zero_shot, X_test, frequencies),
        "trees": scores(y_test, tree_pred, X_test, frequencies),
        "blend": scores(y_test, BLEND * zero_shot + (1 - BLEND) * tree_pred, X_test, frequencies),
        "imaginary_mean": float(np.mean([m.imaginary_fraction for m in modes])),
        "imaginary_over_5pct": float(np.mean([m.imaginary_fraction > 0.05 for m in modes])),
        "seconds_median": float(np.median([m.seconds for m in modes])),
        "error_correlation": float(
            np.corrcoef(
                np.mean((zero_shot - y_test) ** 2, axis=1),
                np.mean((tree_pred - y_test) ** 2, axis=1),
            )[0, 1]
        ),
        "machine": machine_record("benchmarks/zero_shot.py"),
    }


def split_of(row) -> str:
    """The split of a row (rows written before there were OOD rows are ``"id"``)."""
    return row.get("split", "id")


def report(rows) -> str:
    if not rows:
        return "No rows yet: run `python benchmarks/zero_shot.py`."
    lines = [
        "| potential | split | seeds | crystals scored / test | row | MSE×10 | MAE "
        "| R² (per crystal) | C_V MAE 300 K | S MAE 300 K | ratio to trees |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in dict.fromkeys((r["potential"], split_of(r)) for r in rows):
        group = [r for r in rows if (r["potential"], split_of(r)) == key]
        potential, split = key
        seeds = ", ".join(str(r["seed"]) for r in group)
        counts = ", ".join(f"{r['n_scored']}/{r['n_test']}" for r in group)
        for name, label in (("zero_shot", "zero-shot"), ("trees", "trees"), ("blend", "60/40")):
            ratio = [r[name]["mse_x10"] / r["trees"]["mse_x10"] for r in group]
            lines.append(
                f"| {potential} | {ALL_SPLITS[split]} | {seeds} | {counts} | {label} | "
                + " | ".join(
                    mean_std_cell([r[name][metric] for r in group])
                    for metric in ("mse_x10", "mae", "r2_per_crystal", "cv_mae", "entropy_mae")
                )
                + f" | {', '.join(f'{x:.2f}' for x in ratio)} |"
            )
    first = rows[-1]
    lines += [
        "",
        "C_V and S are per mole of atoms, J/(mol·K), against those of the true DOS; the "
        "ratio is the row's MSE over the trees' on the same crystals, per seed. "
        "Per seed, the smearing and scale (chosen on the training crystals the file holds; "
        "where it holds none, the fixed `pretrained.ZERO_SHOT` of the day, shown here): "
        + "; ".join(
            f"{r['potential']} {split_of(r)} seed {r['seed']}: σ {r['sigma']:g} cm⁻¹, "
            f"×{r['scale']:g} "
            f"({r['n_fit']} training crystals)"
            for r in rows
        )
        + ". Imaginary-mode weight, mean over the scored crystals: "
        + ", ".join(f"{r['imaginary_mean']:.3f}" for r in rows)
        + "; share of crystals above 5 %: "
        + ", ".join(f"{r['imaginary_over_5pct']:.2f}" for r in rows)
        + ". Median seconds per crystal (one thread, the 2 cores shared with other jobs): "
        + ", ".join(f"{r['seconds_median']:.0f}" for r in rows)
        + ". Per-crystal error correlation, potential vs trees: "
        + ", ".join(f"{r['error_correlation']:.2f}" for r in rows)
        + f". Measured {first['machine']['date']} on {first['machine']['cores']} cores; "
        f"`{first['machine']['command']}`.",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    if not args.report:
        data = load_phonon_dos(data_home=args.data_home)
        # Like with like: every potential is scored on the crystals all their files hold.
        only = np.logical_and.reduce([covered(data.structures, p) for p in args.potentials])
        for potential, split, seed in itertools.product(args.potentials, args.splits, args.seeds):
            row = seed_row(data, potential, seed, only, split)
            key = (potential, split, seed)
            rows = [r for r in rows if (r["potential"], split_of(r), r["seed"]) != key]
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("split", "seed", "n_scored", "sigma", "scale")}))
            for name in ("zero_shot", "trees", "blend"):
                print(f"  {name:10s} " + json.dumps({k: round(v, 4) for k, v in row[name].items()}))
        rows.sort(key=lambda r: (r["potential"], list(ALL_SPLITS).index(split_of(r)), r["seed"]))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1) + "\n")
    text = report(rows)
    write_docs_block(text, Path(args.docs), "zero_shot", "benchmarks/zero_shot.py")
    print(text)


if __name__ == "__main__":
    main()
