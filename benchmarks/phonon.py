"""Phonon DOS benchmark: DOSTransformerRegressor on a seeded 80/10/10 split.

Prints test MSE×10, MAE, R², seconds per epoch, fit time and prediction
throughput; writes ``results.json`` and ``predictions.png`` to ``--out``.

    python benchmarks/phonon.py --quick           # smoke run, a few minutes on 2 cores
    python benchmarks/phonon.py --seed 0          # full run
    python benchmarks/phonon.py --device cuda     # on a GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from dos_estimators import DOSTransformerRegressor, dos_report
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.model_selection import train_valid_test_split
from dos_estimators.structures import clear_crystal_system_cache

PAPER = {"mse_x10": 0.191, "mae": 0.071, "r2": 0.733}
QUICK = {"hidden": 64, "max_epochs": 6, "patience": None}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, few epochs (CI)")
    parser.add_argument("--seed", type=int, default=0, help="split and model seed")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--max-epochs", type=int, help="override the number of epochs")
    parser.add_argument("--data-home", help="folder holding phonon_dos_e3nn.csv")
    parser.add_argument("--out", default="results/phonon", help="output folder")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra estimator parameter (repeatable), e.g. --param hidden=192",
    )
    parser.add_argument("--verbose", type=int, default=1)
    return parser.parse_args(argv)


def parse_params(items):
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def throughput(model, structures, repeats=3):
    """Best structures per second over a few calls of ``predict``."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(structures)
        best = min(best, time.perf_counter() - start)
    return len(structures) / best


def plot_examples(energies, y_true, y_pred, unit, path, n=6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(10, 5.5), sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat[:n]):
        ax.plot(energies, y_true[i], color="black", label="DFPT")
        ax.plot(energies, y_pred[i], color="tab:red", label="DOSTransformer")
        ax.set_title(f"test crystal {i}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel(f"frequency ({unit.replace('^-1', '$^{-1}$')})")
    axes[0, 0].legend(fontsize=8)
    fig.supylabel("DOS (max-scaled)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())

    start = time.perf_counter()
    data = load_phonon_dos(data_home=args.data_home, n_jobs=-1)
    load_time = time.perf_counter() - start
    X_train, X_valid, X_test, y_train, y_valid, y_test = train_valid_test_split(
        data.structures, data.dos, random_state=args.seed
    )

    params = dict(QUICK) if args.quick else {}
    if args.max_epochs:
        params["max_epochs"] = args.max_epochs
    params.update(parse_params(args.param))
    model = DOSTransformerRegressor(
        device=args.device, random_state=args.seed, verbose=args.verbose, **params
    )
    start = time.perf_counter()
    model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    fit_time = time.perf_counter() - start
    history = model.net_.history
    seconds_per_epoch = float(np.mean([d for net in model.nets_ for d in net.history[:, "dur"]]))
    best_epoch = int(next(row["epoch"] for row in reversed(history) if row.get("valid_loss_best")))

    y_pred = model.predict(X_test)
    report = dos_report(y_test, y_pred)
    rate_warm = throughput(model, X_test)
    clear_crystal_system_cache()
    start = time.perf_counter()
    model.predict(X_test)
    rate_cold = len(X_test) / (time.perf_counter() - start)

    results = {
        "model": "DOSTransformerRegressor",
        "params": {k: v for k, v in model.get_params().items() if k != "callbacks"},
        "seed": args.seed,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "n_train": len(X_train),
        "n_valid": len(X_valid),
        "n_test": len(X_test),
        "test": report,
        "paper": PAPER,
        "n_ensemble": len(model.nets_),
        "epochs": model.n_epochs_,
        "best_epoch": best_epoch,
        "seconds_per_epoch": seconds_per_epoch,
        "fit_seconds": fit_time,
        "load_seconds": load_time,
        "predict_structures_per_second": rate_warm,
        "predict_structures_per_second_with_symmetry": rate_cold,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_examples(data.energies, y_test, y_pred, data.energy_unit, out / "predictions.png")

    print()
    print(f"{'':24s}{'MSE×10':>8s}{'MAE':>8s}{'R²':>8s}")
    print(
        f"{'DOSTransformer (ours)':24s}{report['mse_x10']:8.3f}{report['mae']:8.3f}"
        f"{report['r2']:8.3f}"
    )
    print(
        f"{'DOSTransformer (paper)':24s}{PAPER['mse_x10']:8.3f}{PAPER['mae']:8.3f}"
        f"{PAPER['r2']:8.3f}"
    )
    print(
        f"{len(model.nets_)} network(s); first: epochs {model.n_epochs_} (best {best_epoch}); "
        f"{seconds_per_epoch:.2f} s/epoch, "
        f"fit {fit_time:.1f} s on {args.device} ({torch.get_num_threads()} threads)"
    )
    print(
        f"prediction: {rate_warm:.0f} structures/s (graphs + network), "
        f"{rate_cold:.0f} structures/s including the crystal-system search"
    )
    print(f"wrote {out / 'results.json'} and {out / 'predictions.png'}")
    return results


if __name__ == "__main__":
    main()
