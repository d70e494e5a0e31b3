"""Where the universal potential's phonon DOS goes wrong, on the crystals its priors file holds.

No network is trained. With the smearing and scale ``PotentialPhonons(sigma="fit",
scale="fit")`` chooses on these crystals, and the rows' median maximum as amplitude:

- the potential's error (MSE×10, the paper's convention) by the crystal's share of
  imaginary modes: does a large share mark a wrong prior?
- what one number per crystal would fix: the frequency scale (from 0.80 to 1.20) and
  the amplitude that fit that crystal's true DOS best (an oracle, which needs the true
  DOS), the best of the 7 scales ``prior_readout="stretch"`` mixes
  (``PRIOR_STRETCHES``), and the same scale and amplitude *predicted* from the
  structure by ExtraTrees on the tree reference's Magpie and density features in a
  seeded 5-fold cross validation (each crystal's values come from trees that never
  saw it).

Rows go to ``docs/data/prior_errors.json``; the block ``prior_errors`` of
``docs/phonons.md`` is written from them.

    python benchmarks/prior_errors.py
    python benchmarks/prior_errors.py --report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench.measure import machine_record
from bench.reports import write_docs_block
from priors import covered, priors_path
from scipy.stats import spearmanr
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.model_selection import KFold, cross_val_predict

from dos_estimators.datasets import load_phonon_dos
from dos_estimators.estimators.prior import PRIOR_STRETCHES
from dos_estimators.estimators.reference import magpie_density_features
from dos_estimators.phonons import PotentialPhonons

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "data" / "prior_errors.json"
DOCS = HERE.parent / "docs" / "phonons.md"
ORACLE_SCALES = np.round(np.arange(0.80, 1.2001, 0.02), 2)
IMAGINARY_BINS = (0.0, 0.001, 0.01, 0.05, 1.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--potential", default="7net-l3i5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--docs", default=str(DOCS))
    parser.add_argument("--report", action="store_true")
    return parser.parse_args(argv)


def mse_x10(predicted, y) -> np.ndarray:
    """Each crystal's MSE × 10."""
    return 10 * np.mean((predicted - y) ** 2, axis=1)


def best_per_crystal(modes, y, grid, sigma, scales):
    """Per crystal: the scale and least-squares amplitude of the lowest MSE, and that MSE."""
    best = np.full(len(modes), np.inf)
    scale, amplitude = np.ones(len(modes)), np.ones(len(modes))
    for factor in scales:
        dos = np.array([m.on_grid(grid, sigma, factor) for m in modes])
        a = (dos * y).sum(1) / np.maximum((dos * dos).sum(1), 1e-12)
        error = mse_x10(a[:, None] * dos, y)
        better = error < best
        scale[better], amplitude[better] = factor, a[better]
        best = np.where(better, error, best)
    return scale, amplitude, best


def measure(args) -> dict:
    data = load_phonon_dos(data_home=args.data_home)
    held = np.flatnonzero(covered(data.structures, args.potential))
    X, y, grid = [data.structures[i] for i in held], data.dos[held], data.energies
    prior = PotentialPhonons(
        args.potential, cache=str(priors_path(args.potential)), sigma="fit", scale="fit"
    ).fit(X, y, energies=grid)
    sigma, scale = prior.smearing()
    amplitude = float(np.median(y.max(axis=1)))
    modes = prior.modes(X)
    error = mse_x10(amplitude * prior.transform(X), y)
    imaginary = np.array([m.imaginary_fraction for m in modes])
    by_imaginary = []
    for low, high in zip(IMAGINARY_BINS[:-1], IMAGINARY_BINS[1:], strict=True):
        inside = (imaginary >= low) & (imaginary < high if high < 1 else imaginary <= high)
        by_imaginary.append(
            {
                "low": low,
                "high": high,
                "n": int(inside.sum()),
                "mse_x10": float(error[inside].mean()) if inside.any() else None,
                "error_share": float(error[inside].sum() / error.sum()),
            }
        )
    oracle_scale, oracle_amplitude, oracle = best_per_crystal(
        modes, y, grid, sigma, ORACLE_SCALES * scale
    )
    *_, stretch_oracle = best_per_crystal(modes, y, grid, sigma, np.array(PRIOR_STRETCHES) * scale)
    fixed = np.array([m.on_grid(grid, sigma, scale) for m in modes])
    lone_amplitude = (fixed * y).sum(1) / np.maximum((fixed * fixed).sum(1), 1e-12)
    features = np.nan_to_num(np.asarray(magpie_density_features().fit_transform(X), dtype=float))
    trees = ExtraTreesRegressor(300, min_samples_leaf=3, random_state=args.seed)
    folds = KFold(5, shuffle=True, random_state=args.seed)
    predicted = cross_val_predict(trees, features, np.c_[oracle_scale, oracle_amplitude], cv=folds)
    stretched = np.array(
        [m.on_grid(grid, sigma, f) for m, f in zip(modes, predicted[:, 0], strict=True)]
    )
    rows = {
        "zero-shot": error,
        "oracle: per-crystal amplitude": mse_x10(lone_amplitude[:, None] * fixed, y),
        "oracle: per-crystal scale of PRIOR_STRETCHES, and amplitude": stretch_oracle,
        "oracle: per-crystal scale 0.80–1.20, and amplitude": oracle,
        "trees' per-crystal scale (5-fold)": mse_x10(amplitude * stretched, y),
        "trees' per-crystal scale and amplitude (5-fold)": mse_x10(predicted[:, 1:] * stretched, y),
    }
    return {
        "potential": args.potential,
        "n_crystals": len(X),
        "sigma": sigma,
        "scale": scale,
        "by_imaginary": by_imaginary,
        "imaginary_error_spearman": float(spearmanr(imaginary, error).statistic),
        "rows": {name: float(values.mean()) for name, values in rows.items()},
        "oracle_scale_quantiles": {
            str(q): float(np.quantile(oracle_scale, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)
        },
        "predicted_scale_correlation": float(np.corrcoef(predicted[:, 0], oracle_scale)[0, 1]),
        "machine": machine_record("benchmarks/prior_errors.py"),
    }


def report(row) -> str:
    if not row:
        return "No rows yet: run `python benchmarks/prior_errors.py`."
    lines = [
        f"**{row['potential']} on the {row['n_crystals']} crystals of its priors file** "
        f"(σ {row['sigma']:g} cm⁻¹, scale ×{row['scale']:g}, chosen on them), by the "
        "crystal's share of imaginary modes:",
        "",
        "| imaginary share | crystals | MSE×10 | share of the total error |",
        "| --- | --- | --- | --- |",
    ]
    for part in row["by_imaginary"]:
        mse = "—" if part["mse_x10"] is None else f"{part['mse_x10']:.3f}"
        lines.append(
            f"| {part['low']:g}–{part['high']:g} | {part['n']} | {mse} | "
            f"{part['error_share']:.2f} |"
        )
    quantiles = row["oracle_scale_quantiles"]
    lines += [
        "",
        f"Spearman ρ between a crystal's imaginary share and its error: "
        f"{row['imaginary_error_spearman']:.2f}.",
        "",
        "| what one or two numbers per crystal fix | MSE×10 |",
        "| --- | --- |",
        *(f"| {name} | {value:.3f} |" for name, value in row["rows"].items()),
        "",
        "The best scale per crystal (10th, 25th, 50th, 75th, 90th percentile): "
        + ", ".join(f"{quantiles[q]:.2f}" for q in ("0.1", "0.25", "0.5", "0.75", "0.9"))
        + f"; the trees' predicted scale correlates with it at "
        f"{row['predicted_scale_correlation']:.2f}. Measured {row['machine']['date']}; "
        f"`{row['machine']['command']}`.",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    row = json.loads(out.read_text()) if out.exists() else None
    if not args.report:
        row = measure(args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(row, indent=1) + "\n")
    text = report(row)
    write_docs_block(text, Path(args.docs), "prior_errors", "benchmarks/prior_errors.py")
    print(text)


if __name__ == "__main__":
    main()
