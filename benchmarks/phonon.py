"""Phonon DOS benchmark: the paper's Table 1 phonon block and the tree reference.

Every model is trained on the same seeded 80/10/10 split of the phonon set
(early stopping on the validation tenth; the trees train on the training part)
and scored on the test tenth: MSE×10, MAE, R² (per crystal, averaged over
crystals, as the paper computes it), pooled R² (of the flattened arrays),
seconds per epoch, fit time and prediction throughput, with the paper's numbers
alongside. Several seeds give mean ± std. Writes ``results.json`` and
``predictions.png`` to ``--out``.

    python benchmarks/phonon.py --quick --models all   # smoke run of every row (CI)
    python benchmarks/phonon.py                        # DOSTransformer, full run
    python benchmarks/phonon.py --models all --seeds 0 1 2 --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from common import MODELS, add_common_arguments, build, finish_arguments, run_row

from dos_estimators.datasets import load_phonon_dos
from dos_estimators.model_selection import train_valid_test_split

# Lee et al. (NeurIPS 2023), Table 1 phonon DOS: MSE×10, MAE, R² (per crystal) of the
# rows we have.
PAPER = {
    "mlp": (0.309, 0.106, 0.576),
    "graph_network": (0.259, 0.099, 0.638),
    "e3nn": (0.210, 0.077, 0.705),
    "dostransformer": (0.191, 0.071, 0.733),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["dostransformer"], out="results/phonon", verbose=1)
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="split and model seeds (mean ± std)"
    )
    return finish_arguments(parser.parse_args(argv))


def summarise(rows):
    """Mean and standard deviation over seeds of each row's metrics."""
    summary = {}
    for key in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == key]
        entry = {"n_seeds": len(mine)}
        for metric in ("mse_x10", "mae", "r2_per_crystal", "r2_pooled"):
            values = [r["test"][metric] for r in mine]
            entry[metric] = (float(np.mean(values)), float(np.std(values)))
        for field in ("seconds_per_epoch", "fit_seconds", "predict_structures_per_second"):
            values = [r[field] for r in mine if field in r]
            entry[field] = float(np.mean(values)) if values else None
        summary[key] = entry
    return summary


def print_table(summary, n_seeds):
    def cell(pair):
        mean, std = pair
        return f"{mean:.3f} ± {std:.3f}" if n_seeds > 1 else f"{mean:.3f}"

    width = 15 if n_seeds > 1 else 7
    pooled_width = max(width, len("R² pooled"))
    header = (
        f"{'model':18s} {'MSE×10':>{width}s} {'MAE':>{width}s} {'R²':>{width}s} "
        f"{'R² pooled':>{pooled_width}s} {'s/epoch':>8s} {'fit s':>8s} {'struct/s':>9s} "
        f"│ {'paper MSE×10':>12s} {'MAE':>6s} {'R²':>6s}"
    )
    print(header)
    print("─" * len(header))
    for key, entry in summary.items():
        paper = PAPER.get(key)
        paper_cells = (
            f"{paper[0]:12.3f} {paper[1]:6.3f} {paper[2]:6.3f}" if paper else f"{'—':>12s}"
        )
        epoch = entry["seconds_per_epoch"]
        print(
            f"{MODELS[key][0]:18s} {cell(entry['mse_x10']):>{width}s} "
            f"{cell(entry['mae']):>{width}s} {cell(entry['r2_per_crystal']):>{width}s} "
            f"{cell(entry['r2_pooled']):>{pooled_width}s} "
            f"{(f'{epoch:.2f}' if epoch else '—'):>8s} {entry['fit_seconds']:8.1f} "
            f"{entry['predict_structures_per_second']:9.0f} │ {paper_cells}"
        )


def plot_examples(energies, y_true, predictions, unit, path, n=6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat[:n]):
        ax.plot(energies, y_true[i], color="black", linewidth=2, label="DFPT")
        for key, y_pred in predictions.items():
            ax.plot(energies, y_pred[i], linewidth=1, label=MODELS[key][0])
        ax.set_title(f"test crystal {i}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel(f"frequency ({unit.replace('^-1', '$^{-1}$')})")
    axes[0, 0].legend(fontsize=7)
    fig.supylabel("DOS (max-scaled)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    data = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)
    load_time = time.perf_counter() - start

    rows, first_predictions = [], {}
    for seed in args.seeds:
        split = train_valid_test_split(data.structures, data.dos, random_state=seed)
        if seed == args.seeds[0]:
            y_test_first = split[5]
        for key in args.models:
            model = build(key, args, seed)
            print(f"[seed {seed}] {MODELS[key][0]} …", flush=True)
            row, y_pred = run_row(key, model, split)
            row["seed"] = seed
            rows.append(row)
            if seed == args.seeds[0]:
                first_predictions[key] = y_pred
            report = row["test"]
            print(
                f"[seed {seed}] {MODELS[key][0]}: MSE×10 {report['mse_x10']:.3f} "
                f"MAE {report['mae']:.3f} R² {report['r2_per_crystal']:.3f} "
                f"R² pooled {report['r2_pooled']:.3f}, fit {row['fit_seconds']:.1f} s",
                flush=True,
            )

    summary = summarise(rows)
    results = {
        "models": args.models,
        "seeds": args.seeds,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "n_train": len(split[0]),
        "n_valid": len(split[1]),
        "n_test": len(split[2]),
        "load_seconds": load_time,
        "paper": {
            k: dict(zip(("mse_x10", "mae", "r2_per_crystal"), v, strict=True))
            for k, v in PAPER.items()
        },
        "summary": summary,
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_examples(
        data.energies, y_test_first, first_predictions, data.energy_unit, out / "predictions.png"
    )

    print()
    print(
        f"Phonon DOS, test tenth of {len(data.structures)} crystals, "
        f"seeds {args.seeds}{' (quick)' if args.quick else ''}, {args.device}, "
        f"{torch.get_num_threads()} threads"
    )
    print_table(summary, len(args.seeds))
    for row in rows:
        if "predict_structures_per_second_with_symmetry" in row:
            print(
                f"DOSTransformer prediction (seed {row['seed']}): "
                f"{row['predict_structures_per_second']:.0f} structures/s (graphs + network), "
                f"{row['predict_structures_per_second_with_symmetry']:.0f} structures/s "
                "including the crystal-system search"
            )
    print(f"wrote {out / 'results.json'} and {out / 'predictions.png'}")
    return results


if __name__ == "__main__":
    main()
