"""Thermodynamics from predicted phonon DOS: C_V and S at 300 K against the DFPT DOS's.

Each model of ``--models`` is fitted on the seeded 80/10/10 split of the phonon set; the
heat capacity and vibrational entropy of every test crystal are computed from its
predicted DOS and from its DFPT DOS (``dos_estimators.thermo.phonon_thermo``, each DOS
renormalised to 3N modes, per mole of atoms), and the mean absolute errors are printed
beside the tree reference's, with a parity plot per quantity.

    python benchmarks/thermo.py --models trees dostransformer --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from common import MODELS, add_common_arguments, finish_arguments, run_splits

from dos_estimators.datasets import load_phonon_dos
from dos_estimators.thermo import phonon_thermo

QUANTITIES = (("cv", "C_V", "J/(mol·K)"), ("entropy", "S", "J/(mol·K)"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["trees", "dostransformer"], out="results/thermo")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    return finish_arguments(parser.parse_args(argv))


def thermo_of(dos, frequencies, structures, temperature):
    """C_V and S per mole of atoms at ``temperature`` of each DOS row."""
    n_atoms = np.array([len(s) for s in structures])
    values = phonon_thermo(dos, frequencies, n_atoms, temperature, per_atom=True)
    return {key: values[key] for key, _, _ in QUANTITIES}


def plot(pairs, path: Path, temperature: float) -> None:
    """Parity plots, one panel per quantity, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(QUANTITIES), figsize=(4.2 * len(QUANTITIES), 4))
    for ax, (key, symbol, unit) in zip(axes, QUANTITIES, strict=True):
        for model, (true, predicted) in pairs.items():
            ax.scatter(true[key], predicted[key], s=6, alpha=0.5, label=MODELS[model][0])
        low = min(min(t[key].min(), p[key].min()) for t, p in pairs.values())
        high = max(max(t[key].max(), p[key].max()) for t, p in pairs.values())
        ax.plot([low, high], [low, high], color="k", linewidth=0.8)
        ax.set_xlabel(f"{symbol} from the DFPT DOS, {unit}")
        ax.set_ylabel(f"{symbol} from the predicted DOS, {unit}")
        ax.set_title(f"{symbol} at {temperature:g} K, test crystals")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)
    pairs = {}

    def measure(split, key, model, parts, y_pred, row, indices):
        X_test, y_test = parts[2], parts[5]
        true = thermo_of(y_test, data.energies, X_test, args.temperature)
        predicted = thermo_of(np.clip(y_pred, 0, None), data.energies, X_test, args.temperature)
        row["thermo"] = {
            "temperature": args.temperature,
            **{f"{k}_mae": float(np.mean(np.abs(predicted[k] - true[k]))) for k in true},
            **{f"{k}_mean": float(np.mean(true[k])) for k in true},
        }
        if key not in pairs:
            pairs[key] = (true, predicted)

    rows = []
    for seed in args.seeds:
        for row in run_splits(
            args, data.structures, data.dos, ["id"], seed, after_fit=measure
        ).values():
            row["seed"] = seed
            rows.append(row)
    print(f"\nThermodynamics at {args.temperature:g} K, test crystals, seeds {args.seeds}")
    print(f"{'model':18s} {'C_V MAE':>16s} {'S MAE':>16s}   (J/(mol·K) per mole of atoms)")
    for key in args.models:
        mine = [r["thermo"] for r in rows if r["model"] == key]
        cells = [
            f"{np.mean([m[f'{q}_mae'] for m in mine]):.3f} ± "
            f"{np.std([m[f'{q}_mae'] for m in mine]):.3f}"
            for q, _, _ in QUANTITIES
        ]
        print(f"{MODELS[key][0]:18s} {cells[0]:>16s} {cells[1]:>16s}")
    mean_cv = np.mean([r["thermo"]["cv_mean"] for r in rows])
    print(f"(mean C_V of the test crystals: {mean_cv:.2f} J/(mol·K); Dulong–Petit 24.94)")
    results = {
        "models": args.models,
        "seeds": args.seeds,
        "temperature": args.temperature,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    plot(pairs, out / "thermo_parity.png", args.temperature)
    print(f"wrote {out / 'results.json'} and {out / 'thermo_parity.png'}")
    return results


if __name__ == "__main__":
    main()
